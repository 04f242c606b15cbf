// Compiled (tsc --noEmit, tsconfig.json) against the types graphql-codegen generated from the
// server's schema: a frontend's code using them type-checks, and misuse does not.
import type {
  BoardQuery,
  BoardQueryVariables,
  BoardChangedSubscription,
  BoardChangeKind,
  BoardTaskFragment,
  CreateTaskMutation,
  CreateTaskMutationVariables,
  Priority,
} from './generated/graphql';

export const variables: BoardQueryVariables = { projectId: 'p1' };

export function columns(q: BoardQuery): Array<[string, number]> {
  return q.project.board.map((c) => [c.status, c.tasks.length]);
}

export function title(t: BoardTaskFragment): string {
  const who: string | undefined = t.assignee?.displayName;
  return `${t.key} ${t.title}${who ? ` (${who})` : ''} ${t.dueDate ?? ''} ${t.labels.join(',')}`;
}

export const input: CreateTaskMutationVariables = {
  input: { projectId: 'p1', title: 'Ship it', priority: 'HIGH', labels: ['a'], dueDate: '2026-12-24' },
};

export function created(m: CreateTaskMutation): string | undefined {
  // Payload fields are nullable: a failed read never hides a write that happened.
  return m.createTask?.task?.key;
}

export function onChange(s: BoardChangedSubscription): BoardChangeKind {
  if (s.boardChanged.kind === 'MOVED' && s.boardChanged.task) {
    const status: string = s.boardChanged.task.status;
    void status;
  }
  return s.boardChanged.kind;
}

export const urgent: Priority = 'URGENT';

// @ts-expect-error a task needs a title
export const noTitle: CreateTaskMutationVariables = { input: { projectId: 'p1' } };
// @ts-expect-error not a priority of the schema
export const badPriority: Priority = 'CRITICAL';
// @ts-expect-error not a kind of board change
export const badKind: BoardChangeKind = 'EXPLODED';
