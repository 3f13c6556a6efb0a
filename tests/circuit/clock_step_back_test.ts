// A custom clock may step backwards: an open circuit's break stays bounded
// by the time that actually passed (the engine's side is in
// tests/engine/clock_step_back_test.ts).
import assert from "node:assert/strict";
import { CircuitBreaker } from "../../src/circuit/circuit_breaker.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { SteppingClock } from "../_helpers.ts";

Deno.test("a clock stepping back 10 minutes does not keep an open circuit open past breakMs", async () => {
  const time = new VirtualClock(1_000_000);
  const clock = new SteppingClock(time);
  const breaker = new CircuitBreaker({ kind: "consecutive", threshold: 1, breakMs: 1_000, clock });
  breaker.recordFailure();
  assert.equal(breaker.state, "open");
  clock.offset = -600_000;
  assert.equal(breaker.allowCall(), false, "the break restarts at the stepped-back time");
  assert.ok(breaker.retryAfterMs <= 1_000, `retryAfterMs ${breaker.retryAfterMs}`);
  await time.advance(1_000);
  assert.equal(breaker.allowCall(), true, "a probe after breakMs of elapsed time");
  assert.equal(breaker.state, "half_open");
});

Deno.test("retryAfterMs of an open circuit never exceeds breakMs on a clock that stepped back", () => {
  const time = new VirtualClock(1_000_000);
  const clock = new SteppingClock(time);
  const breaker = new CircuitBreaker({ kind: "consecutive", threshold: 1, breakMs: 1_000, clock });
  breaker.recordFailure();
  clock.offset = -600_000;
  assert.equal(breaker.retryAfterMs, 1_000);
});
