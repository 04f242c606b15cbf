// CORS as a browser does it for a page of another origin that sends its token: a preflight
// (OPTIONS with Access-Control-Request-*), then the request with Origin. The allowed origin gets
// exactly its own origin back with credentials allowed, never "*"; any other origin gets no CORS
// header at all, so its page cannot read the answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { corsOrigin, endpoint, newUser } from './lib.mjs';

const list = (h) => (h ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);

// A preflight as a browser sends it: the Fetch standard has it list the request's unsafelisted
// header names lowercased and sorted (github.com/rs/cors refuses other lists).
async function preflight(origin, method = 'POST', headers = ['authorization', 'content-type']) {
  const res = await fetch(endpoint, {
    method: 'OPTIONS',
    headers: {
      Origin: origin, 'Access-Control-Request-Method': method,
      ...(headers.length && { 'Access-Control-Request-Headers': headers.map((h) => h.toLowerCase()).sort().join(',') }),
    },
  });
  await res.arrayBuffer();
  return res;
}

test('preflight from the allowed origin: its origin, credentials, methods, headers, max age', async () => {
  const res = await preflight(corsOrigin);
  assert.equal(res.status, 204);
  const h = res.headers;
  assert.equal(h.get('access-control-allow-origin'), corsOrigin, 'the origin itself, never "*"');
  assert.equal(h.get('access-control-allow-credentials'), 'true');
  assert.ok(list(h.get('access-control-allow-methods')).includes('post'));
  const allowed = list(h.get('access-control-allow-headers'));
  for (const name of ['authorization', 'content-type']) assert.ok(allowed.includes(name), `${name} in ${allowed}`);
  // With credentials a browser takes "*" literally (a header named *), so the lists are explicit.
  assert.ok(!allowed.includes('*') && !list(h.get('access-control-allow-methods')).includes('*'));
  assert.equal(h.get('access-control-max-age'), '600');
  assert.ok(list(h.get('vary')).includes('origin'), 'Vary: Origin, so no cache serves one origin\'s answer to another');

  // GET (queries) and the headers a client sends besides.
  const get = await preflight(corsOrigin, 'GET', ['authorization', 'x-request-id', 'x-consistency-token']);
  assert.equal(get.headers.get('access-control-allow-origin'), corsOrigin);
  assert.ok(list(get.headers.get('access-control-allow-methods')).includes('get'));
});

test('the request after the preflight: allowed origin, credentials, exposed headers', async () => {
  const user = await newUser();
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: { ...user.auth, Origin: corsOrigin, 'Content-Type': 'application/json' },
    body: JSON.stringify({ query: '{ me { id } }' }),
  });
  const body = await res.json();
  assert.equal(body.data.me.id, user.id);
  assert.equal(res.headers.get('access-control-allow-origin'), corsOrigin);
  assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
  const exposed = list(res.headers.get('access-control-expose-headers'));
  for (const name of ['x-request-id', 'x-consistency-token', 'ratelimit-remaining', 'retry-after']) {
    assert.ok(exposed.includes(name), `${name} exposed: ${exposed}`);
  }
  assert.ok(list(res.headers.get('vary')).includes('origin'));
});

test('another origin: no CORS headers on the preflight nor on the request', async () => {
  const u = new URL(corsOrigin);
  const others = ['https://evil.example', 'null',
    corsOrigin.replace('http://', 'https://'), // another scheme
    `${u.protocol}//${u.hostname}:${Number(u.port || 80) + 1}`, // another port
    `${u.protocol}//evil.${u.host}`, `${corsOrigin}.evil.example`]; // prefix and suffix tricks
  const user = await newUser();
  for (const origin of others) {
    const pre = await preflight(origin);
    assert.equal(pre.headers.get('access-control-allow-origin'), null, `preflight from ${origin}`);
    assert.equal(pre.headers.get('access-control-allow-credentials'), null, `preflight from ${origin}`);
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: { ...user.auth, Origin: origin, 'Content-Type': 'application/json' },
      body: JSON.stringify({ query: '{ me { id } }' }),
    });
    await res.arrayBuffer();
    assert.equal(res.headers.get('access-control-allow-origin'), null, `request from ${origin}`);
    assert.equal(res.headers.get('access-control-allow-credentials'), null, `request from ${origin}`);
  }
});

test('the allowed origin may not preflight other methods or unlisted headers', async () => {
  for (const [method, headers] of [['PUT', ['content-type']], ['DELETE', []], ['POST', ['authorization', 'x-evil']]]) {
    const res = await preflight(corsOrigin, method, headers);
    assert.equal(res.headers.get('access-control-allow-origin'), null, `${method} ${headers}`);
  }
});
