// Run against a running mock:  layers-mock &  then  node --test   (in examples/node)
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";

import { mock, revoke } from "./layers.mjs";

// The published page's example account: 4 queued posts in the default world.
const EXAMPLE = "sa_9c1e42a0-b7f3-4e5d-a2c1-8b4f5e6c7d8e";

beforeEach(async () => {
  await mock.reset(); // a fresh default world: nothing a test revoked, killed or exhausted is seen by the next
});

test("revoke cancels the queued posts; a second revoke is 404 NOT_FOUND", async () => {
  const first = await revoke(EXAMPLE);
  assert.equal(first.status, 200);
  assert.equal(first.body.status, "disconnected");
  assert.equal(first.body.canceledScheduledPosts, 4);

  const again = await revoke(EXAMPLE);
  assert.equal(again.status, 404);
  assert.equal(again.body.error.code, "NOT_FOUND");
  assert.equal(again.body.error.requestId, again.headers.get("x-request-id"));
});

test("an account created through the control plane is revoked with its own posts", async () => {
  const account = await mock.createAccount({ queued: 3, published: 1 });
  const res = await revoke(account.socialAccountId);
  assert.equal(res.status, 200);
  assert.equal(res.body.canceledScheduledPosts, 3);
  const after = await mock.account(account.socialAccountId);
  assert.deepEqual(after.postCounts, { canceled: 3, published: 1 });
});

test("429 RATE_LIMITED, then success once the mock clock passes Retry-After", async () => {
  await mock.freezeClock(); // Retry-After is then exact
  await mock.setBudget("write", 0);
  const limited = await revoke(EXAMPLE);
  assert.equal(limited.status, 429);
  assert.equal(limited.body.error.code, "RATE_LIMITED");
  const wait = Number(limited.headers.get("retry-after"));
  assert.ok(wait >= 1 && wait <= 60, `Retry-After ${wait}`);

  await mock.advanceClock(wait); // instead of sleeping
  const ok = await revoke(EXAMPLE);
  assert.equal(ok.status, 200);
  assert.equal(ok.body.canceledScheduledPosts, 4);
});

test("503 KILL_SWITCH on the key, and on its organization; nothing is revoked", async () => {
  const account = await mock.createAccount({ queued: 2 });
  await mock.killSwitch("key", "write");
  const killed = await revoke(account.socialAccountId);
  assert.equal(killed.status, 503);
  assert.equal(killed.body.error.code, "KILL_SWITCH");
  await mock.killSwitch("key", "write", false);

  await mock.killSwitch("organization", account.organizationId);
  assert.equal((await revoke(account.socialAccountId)).status, 503);
  await mock.killSwitch("organization", account.organizationId, false);

  const ok = await revoke(account.socialAccountId); // still there: the 503s changed nothing
  assert.equal(ok.status, 200);
  assert.equal(ok.body.canceledScheduledPosts, 2);
});

test("the same Idempotency-Key replays the first answer; on another account it is 409", async () => {
  const other = await mock.createAccount({ queued: 1 });
  const key = `offboard-${Date.now()}`;
  const first = await revoke(EXAMPLE, { idempotencyKey: key });
  const replay = await revoke(EXAMPLE, { idempotencyKey: key });
  assert.equal(replay.status, 200);
  assert.equal(replay.headers.get("idempotent-replayed"), "true");
  assert.deepEqual(replay.body, first.body);
  const conflict = await revoke(other.socialAccountId, { idempotencyKey: key });
  assert.equal(conflict.status, 409);
  assert.equal(conflict.body.error.code, "IDEMPOTENCY_CONFLICT");
});

test("reserved test accounts answer their status without any set-up", async () => {
  for (const status of [429, 503]) {
    const res = await revoke(`sa_00000000-0000-4000-8000-000000000${status}`);
    assert.equal(res.status, status);
  }
});
