// graphql-codegen (typescript + typescript-operations) against the running server's URL: it
// introspects over HTTP, validates operations/ against the schema and writes TypeScript types,
// which typecheck.ts then uses under tsc --noEmit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { baseURL, newUser } from './lib.mjs';

const run = promisify(execFile);
const dir = fileURLToPath(new URL('.', import.meta.url));
const bin = (name) => fileURLToPath(new URL(`node_modules/.bin/${name}`, import.meta.url));

test('graphql-codegen from the URL generates types that tsc accepts', async () => {
  const user = await newUser();
  await rm(new URL('generated', import.meta.url), { recursive: true, force: true });
  const env = { ...process.env, TASKFORGE_URL: baseURL.replace(/\/$/, ''), TASKFORGE_CODEGEN_TOKEN: user.token };
  try {
    await run(bin('graphql-codegen'), ['--config', 'codegen.yml'], { cwd: dir, env, timeout: 60000 });
  } catch (e) {
    assert.fail(`graphql-codegen failed:\n${e.stdout}\n${e.stderr}`);
  }
  const out = await readFile(new URL('generated/graphql.ts', import.meta.url), 'utf8');
  for (const name of ['export type BoardQuery =', 'export type BoardQueryVariables =', 'export type CreateTaskMutation =',
    'export type BoardChangedSubscription =', 'export type BoardTaskFragment =', 'export type CreateTaskInput =',
    'export type Priority =', 'export type BoardChangeKind =']) {
    assert.ok(out.includes(name), `${name} in generated/graphql.ts`);
  }
  assert.match(out, /Time: \{ input: string; output: string; \}/, 'the Time scalar mapped to string');

  try {
    await run(bin('tsc'), ['-p', 'tsconfig.json'], { cwd: dir, timeout: 60000 });
  } catch (e) {
    assert.fail(`tsc --noEmit failed:\n${e.stdout}\n${e.stderr}`);
  }
});
