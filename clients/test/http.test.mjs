// GraphQL over HTTP through urql as a frontend configures it: queries by GET, automatic persisted
// queries (@urql/exchange-persisted: the hash first, the text only on a miss), mutations by POST.
// A recording fetch shows what went over the wire.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { Client, fetchExchange, gql as tag } from '@urql/core';
import { persistedExchange } from '@urql/exchange-persisted';
import { endpoint, newUser, gql, gqlConsistent } from './lib.mjs';

/** A fetch that records each request's method, URL and body, and its response's status and
 *  headers, for the assertions. */
function recordingFetch() {
  const calls = [];
  const f = async (input, init = {}) => {
    const res = await fetch(input, init);
    calls.push({
      method: init.method ?? 'GET', url: new URL(String(input)), body: init.body,
      status: res.status, contentType: res.headers.get('content-type'),
      cacheControl: res.headers.get('cache-control'),
    });
    return res;
  };
  return { f, calls };
}

function client(user, fetchImpl, exchanges = [fetchExchange]) {
  return new Client({
    url: endpoint,
    exchanges,
    fetch: fetchImpl,
    // urql sends POST unless asked; this is its documented GET mode (POST when the URL would be
    // longer than 2048 characters).
    preferGetMethod: 'within-url-limit',
    requestPolicy: 'network-only',
    fetchOptions: () => ({ headers: user.auth }),
  });
}

test('urql: a query by GET, answered in application/graphql-response+json', async () => {
  const user = await newUser('Getter');
  const { f, calls } = recordingFetch();
  const r = await client(user, f).query(tag`query Me { me { id name } }`, {}).toPromise();
  assert.equal(r.error, undefined, String(r.error));
  assert.deepEqual(r.data.me, { id: user.id, name: 'Getter' });
  assert.equal(calls.length, 1);
  assert.equal(calls[0].method, 'GET');
  assert.match(calls[0].url.searchParams.get('query'), /query Me/);
  assert.equal(calls[0].status, 200);
  assert.equal(calls[0].contentType, 'application/graphql-response+json');
  assert.equal(calls[0].cacheControl, 'private, no-store');
});

test('urql + persistedExchange: a hash miss, the text once, then hash-only hits, all by GET', async () => {
  const user = await newUser('Persisted');
  const { f, calls } = recordingFetch();
  const c = client(user, f, [persistedExchange({ preferGetForPersistedQueries: true }), fetchExchange]);
  // A name of this run's own: the server's persisted-query cache outlives runs against one server.
  const name = `Me${randomUUID().replace(/-/g, '')}`;
  const doc = tag(`query ${name} { me { id email } }`);

  const first = await c.query(doc, {}).toPromise();
  assert.equal(first.error, undefined, String(first.error));
  assert.equal(first.data.me.id, user.id);
  assert.equal(calls.length, 2, 'a miss, then the query with its hash');
  const [miss, register] = calls;
  for (const call of calls) {
    assert.equal(call.method, 'GET');
    assert.equal(call.status, 200);
    assert.match(JSON.parse(call.url.searchParams.get('extensions')).persistedQuery.sha256Hash, /^[0-9a-f]{64}$/);
  }
  assert.equal(miss.url.searchParams.get('query'), null, 'the first request sends only the hash');
  assert.match(register.url.searchParams.get('query'), new RegExp(name));

  const second = await c.query(doc, {}).toPromise();
  assert.equal(second.error, undefined, String(second.error));
  assert.deepEqual(second.data, first.data);
  assert.equal(calls.length, 3, 'one request: a hit');
  assert.equal(calls[2].method, 'GET');
  assert.equal(calls[2].url.searchParams.get('query'), null, 'hash only');
  assert.equal(calls[2].status, 200);

  // Another client (another user) hits the same hash at once: the cache is of query texts.
  const other = await newUser('Other');
  const o = recordingFetch();
  const r = await client(other, o.f, [persistedExchange({ preferGetForPersistedQueries: true }), fetchExchange])
    .query(doc, {}).toPromise();
  assert.equal(r.error, undefined, String(r.error));
  assert.equal(r.data.me.id, other.id, 'the data is the caller\'s');
  assert.equal(o.calls.length, 1);
});

test('urql: an invalid query is 400 (no data) and urql surfaces its GraphQL errors', async () => {
  const user = await newUser();
  const { f, calls } = recordingFetch();
  const r = await client(user, f).query(tag`query Bad { me { nope } }`, {}).toPromise();
  assert.equal(calls[0].method, 'GET');
  assert.equal(calls[0].status, 400, 'graphql-response+json without data is a 4xx');
  assert.equal(calls[0].contentType, 'application/graphql-response+json');
  assert.equal(r.data ?? null, null);
  assert.match(r.error?.graphQLErrors?.[0]?.message ?? String(r.error), /Cannot query field "nope"/);
});

test('urql: a mutation goes by POST and works', async () => {
  const user = await newUser();
  const { f, calls } = recordingFetch();
  const r = await client(user, f).mutation(
    tag`mutation Create($n: String!) { createWorkspace(input: {name: $n}) { id version } }`,
    { n: 'By urql' }).toPromise();
  assert.equal(r.error, undefined, String(r.error));
  assert.ok(r.data.createWorkspace.id);
  assert.equal(calls.length, 1);
  assert.equal(calls[0].method, 'POST');
});

test('a mutation by GET is refused 405 (Allow: POST) and changes nothing, by text or by hash', async () => {
  const user = await newUser();
  const name = `Once ${randomUUID()}`;
  const mutation = `mutation { createWorkspace(input: {name: "${name}"}) { consistencyToken } }`;
  const get = async (params) => {
    const url = new URL(endpoint);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const res = await fetch(url, { headers: { ...user.auth, Accept: 'application/graphql-response+json' } });
    await res.arrayBuffer();
    return res;
  };
  const count = async () => (await gql(user.auth, '{ workspaces(first: 200) { nodes { name } } }')).workspaces.nodes
    .filter((w) => w.name === name).length;

  let res = await get({ query: mutation });
  assert.equal(res.status, 405);
  assert.equal(res.headers.get('allow'), 'POST');
  assert.equal(await count(), 0, 'no workspace was created');

  // Registered as a persisted query by POST (which runs it once), then sent as its hash by GET.
  const extensions = { persistedQuery: { version: 1, sha256Hash: createHash('sha256').update(mutation).digest('hex') } };
  const reg = await fetch(endpoint, {
    method: 'POST', headers: { ...user.auth, 'Content-Type': 'application/json' },
    body: JSON.stringify({ query: mutation, extensions }),
  });
  const regBody = await reg.json();
  assert.equal(regBody.errors, undefined, JSON.stringify(regBody.errors));
  const token = regBody.data.createWorkspace.consistencyToken;
  res = await get({ extensions: JSON.stringify(extensions) });
  assert.equal(res.status, 405);
  assert.equal(res.headers.get('allow'), 'POST');
  const data = await gqlConsistent(user.auth, 'query($c: String) { workspaces(consistentWith: $c, first: 200) { nodes { name } } }',
    { c: token });
  assert.equal(data.workspaces.nodes.filter((w) => w.name === name).length, 1, 'only the POST created one');
});
