/**
 * What the hot path is built from, in the same units as the other groups:
 * the floor of any wrapper that looks at the result (one more promise hop),
 * reading the clock, and arming and cancelling a deadline on the shared timer
 * wheel against a runtime timer per call, and the steps from the deadline
 * floor towards the full policy (its call state, its wheel entry). The numbers docs/performance.md
 * uses to explain where the time goes.
 *
 * @module
 */
import { systemClock } from "../mod.ts";
import { wheelTimers } from "../src/core/clock.ts";
import type { StampedEntry } from "../src/core/timer_wheel.ts";
import { fn } from "./_shared.ts";

const group = "primitives";
// Results go into a typed array so that no bench boxes a float into a `let`.
const sink = new Float64Array(1);
const noop = () => {};

/** The least a policy can do: an async function awaiting the operation. */
async function asyncWrapper<T>(f: () => Promise<T>): Promise<T> {
  return await f();
}
/** The same without an async function: one `then`. */
function thenWrapper<T>(f: () => Promise<T>): Promise<T> {
  return f().then((value) => value);
}

/** Per-call state, as any wrapper that reacts to the outcome needs. */
class CallState<T> {
  resolve: ((value: T) => void) | undefined;
  reject: ((reason: unknown) => void) | undefined;
  ok(value: T): T {
    return value;
  }
  fail(error: unknown): never {
    throw error;
  }
}

/**
 * The floor of retry on success: per-call state and a `then` with both
 * handlers (a failure must be seen to be retried).
 */
function observingWrapper<T>(f: () => Promise<T>): Promise<T> {
  const state = new CallState<T>();
  return f().then((value) => state.ok(value), (error) => state.fail(error));
}

/**
 * The floor of a deadline: the call's own promise, which a timer can settle
 * while the operation still runs, fed by a `then` on the operation.
 */
function racingWrapper<T>(f: () => Promise<T>): Promise<T> {
  const state = new CallState<T>();
  const promise = new Promise<T>((resolve, reject) => {
    state.resolve = resolve;
    state.reject = reject;
  });
  f().then((value) => state.resolve!(state.ok(value)), (error) => state.reject!(error));
  return promise;
}

/**
 * A call state the size of the policy's first attempt (its 19 fields), and
 * a wheel entry: the steps from the deadline floor towards the full policy.
 */
class WideCallState<T> implements StampedEntry {
  resolve: ((value: T) => void) | undefined = undefined;
  reject: ((reason: unknown) => void) | undefined = undefined;
  settled = false;
  fired = 0;
  done = false;
  slot = 0;
  tick = 0;
  generation = 0;
  start = NaN;
  delayMs = 0;
  hedging = false;
  observedStart = NaN;
  tracer: unknown = null;
  adopt: unknown = undefined;
  controller: unknown = undefined;
  readonly operation: unknown;
  readonly options: unknown;
  readonly shared: unknown;
  constructor(operation: unknown, options: unknown, shared: unknown) {
    this.operation = operation;
    this.options = options;
    this.shared = shared;
  }
  callback(): void {}
}
const shared = {};
const timers = wheelTimers(systemClock)!;

/** The deadline floor with the first attempt's state; with `wheel`, its deadline armed and cancelled. */
function wideRacingWrapper<T>(f: () => Promise<T>, wheel: boolean): Promise<T> {
  const state = new WideCallState<T>(f, undefined, shared);
  if (wheel) timers.schedule(state, 500);
  const promise = new Promise<T>((resolve, reject) => {
    state.resolve = resolve;
    state.reject = reject;
  });
  f().then((value) => {
    state.settled = true;
    if (wheel) timers.cancel(state);
    state.resolve!(value);
  }, (error) => state.reject!(error));
  return promise;
}

Deno.bench({ name: "bare await fn()", group, baseline: true }, async () => {
  await fn();
});

Deno.bench({ name: "empty async wrapper: await (async () => await fn())()", group }, async () => {
  await asyncWrapper(fn);
});

Deno.bench({ name: "empty then wrapper: await fn().then((v) => v)", group }, async () => {
  await thenWrapper(fn);
});

Deno.bench({ name: "retry floor: then with both handlers + call state", group }, async () => {
  await observingWrapper(fn);
});

Deno.bench({ name: "deadline floor: own promise settled from a then", group }, async () => {
  await racingWrapper(fn);
});

Deno.bench({ name: "deadline floor + the first attempt's 19-field state", group }, async () => {
  await wideRacingWrapper(fn, false);
});

Deno.bench({
  name: "deadline floor + 19-field state + its deadline on the timer wheel",
  group,
}, async () => {
  await wideRacingWrapper(fn, true);
});

Deno.bench({ name: "Date.now()", group }, () => {
  sink[0] = Date.now();
});

Deno.bench({ name: "systemClock.now() (timeOrigin + performance.now())", group }, () => {
  sink[0] = systemClock.now();
});

Deno.bench({ name: "timer wheel: systemClock.setTimer + clearTimer", group }, () => {
  systemClock.clearTimer(systemClock.setTimer(noop, 2_000));
});

Deno.bench({ name: "runtime timer: setTimeout + clearTimeout", group }, () => {
  clearTimeout(setTimeout(noop, 2_000));
});
