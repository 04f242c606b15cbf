// Shared by the client tests: the server under test and tokens for it. scripts/client-tests.sh
// starts a server and sets these variables; to run against one of your own, set them yourself:
//
//   TASKFORGE_URL          the server's root, e.g. http://127.0.0.1:8080
//   TASKFORGE_JWT_SECRET   its JWT_SECRET (tokens are minted here with it, HS256)
//   TASKFORGE_JWT_ISSUER   its JWT_ISSUER, if set
//   TASKFORGE_JWT_AUDIENCE its JWT_AUDIENCE, if set
//   TASKFORGE_CORS_ORIGIN  an origin listed in its CORS_ORIGINS
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (scripts/client-tests.sh sets it; see clients/test/lib.mjs)`);
  return v;
}

export const baseURL = env('TASKFORGE_URL');
export const endpoint = new URL('/graphql', baseURL).href;
export const wsEndpoint = endpoint.replace(/^http/, 'ws');
export const corsOrigin = env('TASKFORGE_CORS_ORIGIN');

const secret = new TextEncoder().encode(env('TASKFORGE_JWT_SECRET'));
const issuer = process.env.TASKFORGE_JWT_ISSUER;
const audience = process.env.TASKFORGE_JWT_AUDIENCE;

/** A fresh user: a unique subject (runs never share one) and a token as an identity provider
 *  would issue it, with the claims internal/auth reads. */
export async function newUser(name = 'Client') {
  const id = `client-${randomUUID()}`;
  const token = await mint({ sub: id, email: `${id}@example.com`, email_verified: true, name });
  return { id, token, auth: { Authorization: `Bearer ${token}` } };
}

/** Signs claims with the server's secret; overrides replace the issuer, audience or lifetime. */
export async function mint(claims, { iss = issuer, aud = audience, ttl = '15m' } = {}) {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt().setNotBefore('0s').setExpirationTime(ttl);
  if (iss) jwt = jwt.setIssuer(iss);
  if (aud) jwt = jwt.setAudience(aud);
  return jwt.sign(secret);
}

/** A plain POST, as curl or Postman would send it; returns the HTTP response and its body. */
export async function post(auth, query, variables, headers = {}) {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: { ...auth, 'Content-Type': 'application/json', Accept: 'application/graphql-response+json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { res, body: await res.json() };
}

/** POSTs and fails on any error; returns data. */
export async function gql(auth, query, variables) {
  const { res, body } = await post(auth, query, variables);
  if (res.status !== 200 || body.errors) {
    throw new Error(`HTTP ${res.status}: ${JSON.stringify(body.errors ?? body)}`);
  }
  return body.data;
}

/** gql for a read given a consistency token: the server waits a bounded time (2 s) for the read
 *  models and answers STALE past it; on a loaded machine, ask again for up to 20 s. */
export async function gqlConsistent(auth, query, variables) {
  for (const deadline = Date.now() + 20000; ;) {
    const { res, body } = await post(auth, query, variables);
    const stale = body.errors?.length && body.errors.every((e) => e.extensions?.code === 'STALE');
    if (!stale || Date.now() > deadline) {
      if (res.status !== 200 || body.errors) throw new Error(`HTTP ${res.status}: ${JSON.stringify(body.errors ?? body)}`);
      return body.data;
    }
  }
}

/** A workspace and a project of user's, visible to queries (waited for by consistency token). */
export async function newProject(user) {
  const w = await gql(user.auth, 'mutation($n: String!) { createWorkspace(input: {name: $n}) { id } }',
    { n: `Clients ${randomUUID().slice(0, 8)}` });
  const key = 'C' + randomUUID().replace(/[^a-z]/gi, '').slice(0, 4).toUpperCase();
  const p = await gql(user.auth,
    'mutation($w: ID!, $k: String!) { createProject(input: {workspaceId: $w, name: "Client tests", key: $k}) { id consistencyToken } }',
    { w: w.createWorkspace.id, k: key });
  const { id, consistencyToken } = p.createProject;
  await gqlConsistent(user.auth, 'query($id: ID!, $c: String) { project(id: $id, consistentWith: $c) { id } }',
    { id, c: consistencyToken });
  return { workspaceId: w.createWorkspace.id, projectId: id };
}
