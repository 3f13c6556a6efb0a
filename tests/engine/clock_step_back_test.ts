// A custom clock may step backwards (an operator or NTP sets it back).
// Elapsed time must never be negative: a deadline stays bounded by the time
// that actually passed (the breaker's side is in
// tests/circuit/clock_step_back_test.ts).
import assert from "node:assert/strict";
import { DeadlineExceededError, policy, TransientError } from "../../mod.ts";
import { VirtualClock } from "../../testing.ts";
import { settleLater, SteppingClock } from "../_helpers.ts";

Deno.test("a clock stepping back 60 s mid-call does not stretch a 100 ms deadline", async () => {
  const time = new VirtualClock(1_000_000);
  const clock = new SteppingClock(time);
  let attempts = 0;
  const p = policy("stepped", {
    clock,
    telemetry: false,
    deadlineMs: 100,
    retry: { maxAttempts: 1_000, backoff: () => 1 },
  });
  const call = settleLater(p.execute(() => {
    attempts++;
    if (attempts === 10) clock.offset = -60_000; // set back by a minute
    return Promise.reject(new TransientError("down"));
  }));
  await time.runAll();
  const result = await call;
  assert.equal(result.ok, false);
  assert.ok((result as { error: unknown }).error instanceof DeadlineExceededError);
  const elapsed = time.now() - 1_000_000;
  assert.ok(elapsed <= 101, `settled after ${elapsed} ms of elapsed time`);
  assert.ok(attempts <= 101, `${attempts} attempts`);
});
