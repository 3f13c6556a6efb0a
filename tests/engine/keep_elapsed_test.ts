// keepElapsed never moves a deadline earlier on a monotonic clock.
import assert from "node:assert/strict";
import { Policy } from "../../src/policy/policy.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { TransientError } from "../../src/classify/markers.ts";

// On a monotonic clock keepElapsed must never pull a deadline in.
Deno.test("bulkhead-queued call with deadlineMs: retries run until the real deadline", async () => {
  const clock = new VirtualClock(1_000);
  const p = new Policy("p", {
    clock,
    telemetry: false,
    deadlineMs: 300,
    bulkhead: { maxConcurrent: 1, maxQueue: 10 },
    retry: { maxAttempts: 100, backoff: () => 10 },
  });
  let release!: () => void;
  const holder = p.execute(() => new Promise<void>((r) => (release = r)));
  const starts: number[] = [];
  const queued = p.execute(() => {
    starts.push(clock.now());
    throw new TransientError("x");
  }).then(() => undefined, (e) => e);
  await clock.advance(50);
  release();
  await holder;
  await clock.runAll();
  const err = await queued;
  assert.equal(err.name, "DeadlineExceededError");
  assert.equal(starts[0], 1_050);
  // The deadline is callStart(1000) + 300 = 1300; the last attempt starts before it.
  assert.ok(starts.at(-1)! >= 1_290, `last attempt at ${starts.at(-1)}`);
});

Deno.test("per-call deadline + fast path retries: last attempt close to the deadline", async () => {
  const clock = new VirtualClock(0);
  const p = new Policy("p", {
    clock,
    telemetry: false,
    deadlineMs: 200,
    retry: { maxAttempts: 100, backoff: () => 10 },
  });
  const starts: number[] = [];
  const call = p.execute(() => {
    starts.push(clock.now());
    throw new TransientError("x");
  }).then(() => undefined, (e) => e);
  await clock.runAll();
  const err = await call;
  assert.equal(err.name, "DeadlineExceededError");
  assert.ok(starts.at(-1)! >= 190, `last attempt at ${starts.at(-1)}`);
});
