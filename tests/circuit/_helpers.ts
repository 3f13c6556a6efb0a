// Helpers shared by the circuit breaker tests (not part of the package).
import assert from "node:assert/strict";
import { CircuitBreaker, type CircuitBreakerOptions } from "../../src/circuit/circuit_breaker.ts";
import type { CircuitRejectedEvent, CircuitTransitionEvent } from "../../src/core/events.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { recorder } from "../_helpers.ts";

/** Circuit breaker options, as the tests write them. */
export type Options = CircuitBreakerOptions;

/** A breaker on a fresh VirtualClock with an event recorder. */
export function setup(options: Options): {
  clock: VirtualClock;
  rec: ReturnType<typeof recorder>;
  breaker: CircuitBreaker;
  transitions: () => string[];
  rejections: () => CircuitRejectedEvent[];
} {
  const clock = new VirtualClock();
  const rec = recorder();
  const breaker = new CircuitBreaker({ ...options, clock, onEvent: rec.onEvent } as Options);
  const transitions = () =>
    rec.events
      .filter((e): e is CircuitTransitionEvent => e.type === "circuit_transition")
      .map((e) => `${e.from}->${e.to}:${e.reason}`);
  const rejections = () =>
    rec.events.filter((e): e is CircuitRejectedEvent => e.type === "circuit_rejected");
  return { clock, rec, breaker, transitions, rejections };
}

/** Asserts that the breaker never set a timer on the clock. */
export function noTimers(clock: VirtualClock): void {
  assert.equal(clock.pending, 0);
  assert.equal(clock.timersCreated, 0);
}

/** Feeds "S" (success), "F" (failure) and "W" (slow success, 1 s) through allowCall/record. */
export function feed(breaker: CircuitBreaker, script: string): string[] {
  const states: string[] = [];
  for (const step of script) {
    assert.equal(breaker.allowCall(), true, "only feed while the circuit admits calls");
    if (step === "F") breaker.recordFailure();
    else if (step === "W") breaker.recordSuccess(1_000);
    else breaker.recordSuccess(step === "S" ? 1 : undefined);
    states.push(breaker.state);
  }
  return states;
}

/** Index (1-based) of the call after which the circuit opened, or 0. */
export function openedAfter(options: Options, script: string): number {
  const { breaker } = setup(options);
  const states = feed(breaker, script);
  const i = states.indexOf("open");
  if (i >= 0) assert.equal(i, states.length - 1, "the script must end at the opening");
  return i + 1;
}
