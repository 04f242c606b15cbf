// Sync as a frontend does it: graphql-ws's workspaceChanged with `since` after being away (the
// replay, then live, each record carrying its position and the clientMutationId of our own
// mutation), and GET /sync with fetch's conditional requests (ETag, 304).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { baseURL, wsEndpoint, newUser, newProject, gql, gqlConsistent } from './lib.mjs';

const createTask = 'mutation($p: ID!, $t: String!, $c: String) { createTask(input: {projectId: $p, title: $t, clientMutationId: $c}) { id consistencyToken clientMutationId } }';

test('graphql-ws: workspaceChanged with since replays what was missed, then goes live', async () => {
  const user = await newUser('Syncer');
  const { workspaceId, projectId } = await newProject(user);
  const first = await gql(user.auth, createTask, { p: projectId, t: 'before', c: 'c-0' });
  // The client's position: the sync page after its first load.
  const page = await gqlConsistent(user.auth,
    'query($w: ID!, $c: String) { changes(workspaceId: $w, first: 200, consistentWith: $c) { lastPosition hasMore } }',
    { w: workspaceId, c: first.createTask.consistencyToken });
  assert.equal(page.changes.hasMore, false);
  // Away: a change it will have to replay.
  const away = await gql(user.auth, createTask, { p: projectId, t: 'while away', c: 'c-1' });
  assert.equal(away.createTask.clientMutationId, 'c-1', 'the payload echoes the clientMutationId');

  const ws = createClient({ url: wsEndpoint, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true,
    connectionParams: { Authorization: `Bearer ${user.token}` } });
  const seen = [];
  let resolveLive;
  const live = new Promise((r) => { resolveLive = r; });
  const stop = ws.subscribe({
    query: `subscription($w: ID!, $s: String) { workspaceChanged(workspaceId: $w, since: $s) {
      position entity id clientMutationId task { title } } }`,
    variables: { w: workspaceId, s: page.changes.lastPosition },
  }, {
    next: (r) => {
      assert.equal(r.errors, undefined);
      seen.push(r.data.workspaceChanged);
      if (r.data.workspaceChanged.clientMutationId === 'c-2') resolveLive();
    },
    error: (e) => assert.fail(JSON.stringify(e)),
    complete: () => {},
  });
  await gql(user.auth, createTask, { p: projectId, t: 'live', c: 'c-2' });
  const timeout = setTimeout(() => assert.fail(`no live record within 20 s: ${JSON.stringify(seen)}`), 20000);
  await live;
  clearTimeout(timeout);
  stop();
  await ws.dispose();
  const tasks = seen.filter((c) => c.entity === 'TASK');
  assert.deepEqual(tasks.map((c) => [c.task.title, c.clientMutationId]), [['while away', 'c-1'], ['live', 'c-2']],
    'the replay then the live record, nothing before since, nothing twice');
});

test('GET /sync: pages of records with an ETag; a repeat answers 304', async () => {
  const user = await newUser('Fetcher');
  const { workspaceId, projectId } = await newProject(user);
  const t = await gql(user.auth, createTask, { p: projectId, t: 'synced', c: 'c-9' });
  await gqlConsistent(user.auth, 'query($id: ID!, $c: String) { task(id: $id, consistentWith: $c) { id } }',
    { id: t.createTask.id, c: t.createTask.consistencyToken });
  const url = new URL(`/sync/${workspaceId}?first=200`, baseURL);
  const res = await fetch(url, { headers: user.auth });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.hasMore, false);
  assert.ok(body.changes.some((c) => c.entity === 'TASK' && c.task.title === 'synced' && c.clientMutationId === 'c-9'));
  assert.equal(res.headers.get('cache-control'), 'private, no-cache');
  const etag = res.headers.get('etag');
  assert.match(etag, /^W\/"/);
  const again = await fetch(url, { headers: { ...user.auth, 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  const stranger = await newUser('Stranger');
  assert.equal((await fetch(url, { headers: stranger.auth })).status, 404);
});
