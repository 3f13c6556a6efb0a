import type { Clock } from "../src/core/clock.ts";
import type { VirtualClock } from "../src/core/virtual_clock.ts";
// Shared test helpers (not part of the package).
import assert from "node:assert/strict";
import type { ResilienceEvent } from "../src/core/events.ts";

/** Collects events and offers a compact view of them. */
export function recorder(): {
  events: ResilienceEvent[];
  onEvent: (e: ResilienceEvent) => void;
  types: () => string[];
} {
  const events: ResilienceEvent[] = [];
  return {
    events,
    onEvent: (e) => events.push(e),
    types: () => events.map((e) => e.type),
  };
}

/** Captures a promise's rejection so a test can advance time before asserting. */
export function settleLater<T>(
  p: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error) => ({ ok: false as const, error }),
  );
}

/** Passes a deliberately ill-typed value (for bad-input tests). */
export function loose(value: unknown): never {
  return value as never;
}

/** Asserts that `fn` throws exactly `Class` (not a subclass) with `message`. */
export function throwsExactly(
  fn: () => unknown,
  Class: RangeErrorConstructor | TypeErrorConstructor,
  message: string,
): void {
  assert.throws(fn, (e: unknown) => {
    assert.equal(Object.getPrototypeOf(e), Class.prototype, `expected a ${Class.name}`);
    assert.equal((e as Error).message, message);
    return true;
  });
}

/** Asserts that `p` rejects with exactly `Class` (not a subclass) and `message`. */
export async function rejectsExactly(
  p: Promise<unknown>,
  Class: RangeErrorConstructor | TypeErrorConstructor,
  message: string,
): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.equal(Object.getPrototypeOf(e), Class.prototype, `expected a ${Class.name}`);
    assert.equal((e as Error).message, message);
    return true;
  });
}

/** A wall clock over virtual time that can be set back: `now()` = virtual time + offset. */
export class SteppingClock implements Clock {
  offset = 0;
  constructor(readonly time: VirtualClock) {}
  now(): number {
    return this.time.now() + this.offset;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return this.time.sleep(ms, signal);
  }
  setTimer(callback: () => void, ms: number) {
    return this.time.setTimer(callback, ms);
  }
  clearTimer(id: ReturnType<VirtualClock["setTimer"]>): void {
    this.time.clearTimer(id);
  }
}
