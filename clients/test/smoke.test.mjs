import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newUser, gql } from './lib.mjs';
test('me', async () => {
  const u = await newUser();
  const d = await gql(u.auth, '{ me { id } }');
  assert.equal(d.me.id, u.id);
});
