// The mock grades the client (its client report): a client built on the retry helper is flagged
// by nothing; one that keeps calling after a 503 KILL_SWITCH is flagged by that rule alone.
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";

import { assertClientBehaved, mock, revoke } from "./layers.mjs";
import { withRetry } from "./retry.mjs";

const flagged = (report) => Object.fromEntries(report.rules.filter((r) => r.flags).map((r) => [r.id, r.flags]));

beforeEach(async () => {
  await mock.reset(); // a fresh world, and an empty journal to grade
});

test("a client on the retry helper gets through 429 and 500 and is flagged by nothing", async () => {
  const { socialAccountId } = await mock.createAccount({ queued: 2 });
  await mock.armScenario([{ status: 429, retryAfter: 1 }, { status: 500 }, { status: 200 }], { socialAccountId });
  const idempotencyKey = randomUUID(); // one key for every attempt of this revoke
  const res = await withRetry(() => revoke(socialAccountId, { idempotencyKey }));
  assert.equal(res.status, 200);
  assert.equal(res.body.canceledScheduledPosts, 2);
  const report = assertClientBehaved(await mock.clientReport());
  assert.equal(report.graded, 3);
  console.log(await mock.clientReportText()); // what a partner reads (also: layers-mock report)
});

test("a client that keeps calling after a 503 KILL_SWITCH is flagged by stop-on-kill-switch alone", async () => {
  const accounts = [];
  for (let i = 0; i < 3; i += 1) accounts.push(await mock.createAccount({ queued: 1 }));
  await mock.killSwitch("organization", accounts[0].organizationId);
  for (const { socialAccountId } of accounts) {
    const res = await revoke(socialAccountId); // ignores the 503 and goes on to the next account
    assert.equal(res.status, 503);
    assert.equal(res.body.error.details.scope, "organization");
  }
  const report = await mock.clientReport();
  assert.deepEqual(flagged(report), { "stop-on-kill-switch": 2 });
  console.log(await mock.clientReportText());
  assert.throws(() => assertClientBehaved(report), /stop-on-kill-switch: kept calling after the 503 KILL_SWITCH[\s\S]*fix: /);
});
