// Introspection as every tool sends it (GraphiQL's docs, codegen, Apollo, Postman): graphql-js's
// own query, with input-value deprecation, by POST; the answer builds a client schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildClientSchema, getIntrospectionQuery, printSchema, validate, parse } from 'graphql';
import { endpoint, newUser, post, mint } from './lib.mjs';

test('graphql-js getIntrospectionQuery by POST builds a client schema', async () => {
  const user = await newUser();
  const { res, body } = await post(user.auth, getIntrospectionQuery({ inputValueDeprecation: true }));
  assert.equal(res.status, 200);
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  assert.equal(res.headers.get('content-type'), 'application/graphql-response+json');
  assert.equal(res.headers.get('cache-control'), 'private, no-store');

  const schema = buildClientSchema(body.data);
  assert.equal(schema.getQueryType()?.name, 'Query');
  assert.equal(schema.getMutationType()?.name, 'Mutation');
  assert.ok(schema.getSubscriptionType()?.getFields().boardChanged, 'boardChanged subscription');
  assert.ok(schema.getType('BoardChange'), 'BoardChange type');
  assert.ok(printSchema(schema).length > 1000);
  // The built schema is usable for client-side validation, as tools use it.
  assert.deepEqual(validate(schema, parse('{ me { id name } }')), []);
  assert.equal(validate(schema, parse('{ me { nope } }')).length, 1);
});

test('introspection with every option graphql-js has (GraphiQL 3 and codegen send these)', async () => {
  const user = await newUser();
  const query = getIntrospectionQuery({
    descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true,
    inputValueDeprecation: true, oneOf: true,
  });
  const { res, body } = await post(user.auth, query);
  assert.equal(res.status, 200);
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  const schema = buildClientSchema(body.data);
  assert.ok(schema.getDirective('authenticated'), 'the schema\'s own directives');
  // The same by GET, as GraphiQL's fetcher may send it.
  const url = new URL(endpoint);
  url.searchParams.set('query', query);
  const get = await fetch(url, { headers: user.auth });
  const got = await get.json();
  assert.equal(get.status, 200);
  assert.equal(got.errors, undefined, JSON.stringify(got.errors));
  assert.deepEqual(got.data, body.data);
});

test('the same introspection without a token (tools fetch the schema before signing in)', async () => {
  const { res, body } = await post({}, getIntrospectionQuery({ inputValueDeprecation: true }));
  assert.equal(res.status, 200);
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  assert.ok(buildClientSchema(body.data).getType('Task'));
});

test('tokens: the configured issuer and audience are required', async () => {
  const claims = { sub: 'client-someone', email: 'someone@example.com', name: 'Someone' };
  for (const [what, token] of [
    ['wrong audience', await mint(claims, { aud: 'another-api' })],
    ['wrong issuer', await mint(claims, { iss: 'someone-else' })],
    ['expired', await mint(claims, { ttl: '-2m' })],
  ]) {
    const { body } = await post({ Authorization: `Bearer ${token}` }, '{ me { id } }');
    assert.equal(body.data ?? null, null, what);
    assert.equal(body.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED', `${what}: ${JSON.stringify(body.errors)}`);
  }
});
