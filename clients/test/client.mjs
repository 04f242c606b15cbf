// Standard GraphQL clients against a running Taskforge API (TASKFORGE_URL, e.g.
// http://127.0.0.1:8080, and TASKFORGE_TOKEN, a bearer token: `taskforge token --user u1`):
// graphql-js's introspection query, a query by GET through @urql/core, an automatic persisted
// query by GET (hash only after registering it) and a subscription over graphql-ws that
// authenticates in connection_init. Exits non-zero on the first failure.
import { createHash, randomUUID } from 'node:crypto';
import assert from 'node:assert/strict';
import { buildClientSchema, getIntrospectionQuery } from 'graphql';
import { createClient as createWsClient } from 'graphql-ws';
import { Client, fetchExchange } from '@urql/core';
import WebSocket from 'ws';

const base = process.env.TASKFORGE_URL;
const token = process.env.TASKFORGE_TOKEN;
if (!base || !token) {
  console.error('set TASKFORGE_URL and TASKFORGE_TOKEN');
  process.exit(2);
}
const endpoint = new URL('/graphql', base).href;
const auth = { Authorization: `Bearer ${token}` };

async function post(query, variables) {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: { ...auth, 'Content-Type': 'application/json', Accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query, variables }),
  });
  assert.equal(res.headers.get('content-type'), 'application/graphql-response+json');
  const body = await res.json();
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data;
}

// 1. Introspection, as every tool sends it.
const schema = buildClientSchema(await post(getIntrospectionQuery({ inputValueDeprecation: true })));
assert.ok(schema.getSubscriptionType(), 'the schema has subscriptions');
console.log('introspection: ok');

// 2. A query by GET through @urql/core.
const client = new Client({ url: endpoint, exchanges: [fetchExchange], preferGetMethod: 'force',
  fetchOptions: () => ({ headers: auth }) });
const me = await client.query('query Me { me { id } }', {}).toPromise();
assert.equal(me.error, undefined, String(me.error));
assert.ok(me.data.me.id);
console.log('GET query (urql): ok');

// 3. An automatic persisted query by GET: unknown hash, then registered, then hash only.
const apq = `query MeAgain { me { id name } } # ${randomUUID()}`; // unique: the server's cache outlives a run
const extensions = JSON.stringify({ persistedQuery: { version: 1, sha256Hash: createHash('sha256').update(apq).digest('hex') } });
const get = async (params) => (await fetch(`${endpoint}?${new URLSearchParams(params)}`, { headers: auth })).json();
assert.match(JSON.stringify((await get({ extensions })).errors), /PersistedQueryNotFound/);
assert.equal((await get({ query: apq, extensions })).errors, undefined);
const hit = await get({ extensions });
assert.equal(hit.errors, undefined, JSON.stringify(hit.errors));
assert.equal(hit.data.me.id, me.data.me.id);
console.log('persisted query by GET: ok');

// 4. A subscription: a task created in a new project arrives over graphql-ws.
const ws = await post('mutation($n: String!) { createWorkspace(input: {name: $n}) { id } }', { n: `client ${randomUUID()}` });
const wsId = ws.createWorkspace.id;
const key = 'C' + randomUUID().replace(/[^A-Z]/gi, '').slice(0, 4).toUpperCase();
const project = await post('mutation($w: ID!, $k: String!) { createProject(input: {workspaceId: $w, name: "Client", key: $k}) { id } }',
  { w: wsId, k: key });
const projectId = project.createProject.id;
const wsUrl = endpoint.replace(/^http/, 'ws');
const wsClient = createWsClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams: () => auth, lazy: true });
const subscribe = () => new Promise((resolve) => {
  const stop = wsClient.subscribe({ query: 'subscription($p: ID!) { taskChanged(projectId: $p) { title } }', variables: { p: projectId } }, {
    next: (v) => { stop(); resolve(v); },
    error: (e) => resolve({ errors: [e] }),
    complete: () => resolve({ errors: [{ message: 'completed without an event' }] }),
  });
});
// The read side is eventually consistent: until the new project reaches it, the subscription is
// refused NOT_FOUND; subscribe again until it is live, creating a task each round.
const deadline = Date.now() + 20000;
let event;
while (Date.now() < deadline) {
  const next = subscribe();
  await new Promise((r) => setTimeout(r, 300));
  await post('mutation($p: ID!) { createTask(input: {projectId: $p, title: "from a client"}) { __typename } }', { p: projectId });
  event = await Promise.race([next, new Promise((r) => setTimeout(() => r(undefined), 2000))]);
  if (event && !event.errors) break;
}
await wsClient.dispose();
assert.ok(event, 'no taskChanged event within 20s');
assert.equal(event.errors, undefined, JSON.stringify(event.errors));
assert.equal(event.data.taskChanged.title, 'from a client');
console.log('subscription (graphql-ws): ok');
