// A live board over graphql-ws, wired into urql the way its documentation shows
// (subscriptionExchange → graphql-ws client), authenticated in connection_init as a browser must
// (it cannot set headers on a websocket): a task created and then moved by mutations arrives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, fetchExchange, subscriptionExchange, gql as tag } from '@urql/core';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { endpoint, wsEndpoint, newUser, newProject, gqlConsistent } from './lib.mjs';

const BoardChanged = tag`
  subscription BoardChanged($projectId: ID!) {
    boardChanged(projectId: $projectId) {
      kind taskId status archived consistencyToken
      task { id key title status version }
      project { id name }
    }
  }`;

function wsClient(connectionParams) {
  return createClient({ url: wsEndpoint, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: true });
}

/** Collects a source's results; next(pred, ms) resolves with the first result matching pred. */
function collector() {
  const seen = [];
  let waiters = [];
  return {
    seen,
    push(r) {
      seen.push(r);
      waiters = waiters.filter((w) => !(w.pred(r) && (w.resolve(r), true)));
    },
    next(pred, ms) {
      const hit = seen.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve) => {
        const timer = setTimeout(() => { waiters = waiters.filter((x) => x !== w); resolve(undefined); }, ms);
        const w = { pred, resolve: (r) => { clearTimeout(timer); resolve(r); } };
        waiters.push(w);
      });
    },
  };
}

test('urql + graphql-ws: boardChanged delivers a created task, then its move', async () => {
  const user = await newUser('Watcher');
  const { projectId } = await newProject(user);
  const ws = wsClient({ Authorization: `Bearer ${user.token}` });
  const client = new Client({
    url: endpoint,
    fetchOptions: () => ({ headers: user.auth }),
    exchanges: [
      fetchExchange,
      subscriptionExchange({
        forwardSubscription: (request) => ({
          subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query ?? '' }, sink) }),
        }),
      }),
    ],
  });
  const events = collector();
  const { unsubscribe } = client.subscription(BoardChanged, { projectId }).subscribe((r) => events.push(r));
  try {
    // The protocol does not acknowledge a subscribe, and a subscription receives only changes
    // committed after it started: create tasks until one arrives.
    const created = [];
    let first;
    for (const deadline = Date.now() + 20000; !first && Date.now() < deadline;) {
      const r = await client.mutation(tag`
        mutation Create($p: ID!, $t: String!) { createTask(input: {projectId: $p, title: $t}) { id key } }`,
      { p: projectId, t: `live ${created.length}` }).toPromise();
      assert.equal(r.error, undefined, String(r.error));
      created.push(r.data.createTask.id);
      first = await events.next((e) => e.error || e.data?.boardChanged.kind === 'CREATED', 1000);
    }
    assert.ok(first, 'no boardChanged event within 20 s');
    assert.equal(first.error, undefined, String(first.error));
    const change = first.data.boardChanged;
    assert.ok(created.includes(change.taskId), 'a task of ours');
    assert.equal(change.task.id, change.taskId);
    assert.match(change.task.title, /^live \d+$/);
    assert.equal(change.status, 'todo');
    assert.equal(change.archived, false);
    assert.equal(change.project.id, projectId);
    assert.ok(change.consistencyToken);

    // Now live: the move arrives, and the message's token serves a query that includes it.
    const moved = await client.mutation(tag`
      mutation Move($t: ID!) { changeTaskStatus(input: {taskId: $t, status: "in_progress"}) { version } }`,
    { t: change.taskId }).toPromise();
    assert.equal(moved.error, undefined, String(moved.error));
    const move = await events.next((e) => e.error || (e.data?.boardChanged.kind === 'MOVED' && e.data.boardChanged.taskId === change.taskId), 10000);
    assert.ok(move, 'no MOVED event within 10 s');
    assert.equal(move.error, undefined, String(move.error));
    assert.equal(move.data.boardChanged.status, 'in_progress');
    assert.equal(move.data.boardChanged.task.status, 'in_progress');
    assert.equal(move.data.boardChanged.task.version, moved.data.changeTaskStatus.version);
    const q = await gqlConsistent(user.auth, 'query($id: ID!, $c: String) { task(id: $id, consistentWith: $c) { status } }',
      { id: change.taskId, c: move.data.boardChanged.consistencyToken });
    assert.equal(q.task.status, 'in_progress');

    for (const e of events.seen) {
      assert.equal(e.error, undefined, String(e.error));
      assert.ok(created.includes(e.data.boardChanged.taskId), 'only tasks of this project');
    }
  } finally {
    unsubscribe();
    await ws.dispose();
  }
});

/** Subscribes once with graphql-ws alone; resolves with the first result, error or completion. */
function once(connectionParams, variables) {
  const ws = wsClient(connectionParams);
  return new Promise((resolve) => {
    ws.subscribe({ query: 'subscription($p: ID!) { boardChanged(projectId: $p) { kind } }', variables }, {
      next: (value) => resolve({ value }),
      error: (error) => resolve({ error }),
      complete: () => resolve({ complete: true }),
    });
  }).finally(() => ws.dispose());
}

test('graphql-ws: without a token a subscription is UNAUTHENTICATED; a bad token closes with 4401', async () => {
  const user = await newUser();
  const { projectId } = await newProject(user);

  // The refusal may come as an error message or as a result with errors (the protocol allows
  // both; gqlgen sends the latter, then completes).
  const errorsOf = (r) => (Array.isArray(r.error) ? r.error : r.value?.errors) ?? [];
  const anonymous = await once(undefined, { p: projectId });
  assert.equal(errorsOf(anonymous)[0]?.extensions?.code, 'UNAUTHENTICATED', JSON.stringify(anonymous));
  assert.equal(anonymous.value?.data ?? null, null);

  for (const authorization of [`Bearer ${user.token}x`, user.token, 'Bearer ']) {
    const refused = await once({ Authorization: authorization }, { p: projectId });
    assert.equal(refused.error?.code, 4401, `${authorization.slice(0, 10)}…: ${JSON.stringify(refused)}`);
  }

  // Another user's subscription to this project is NOT_FOUND, as a query would be.
  const stranger = await newUser('Stranger');
  const foreign = await once({ Authorization: `Bearer ${stranger.token}` }, { p: projectId });
  assert.equal(errorsOf(foreign)[0]?.extensions?.code, 'NOT_FOUND', JSON.stringify(foreign));
});
