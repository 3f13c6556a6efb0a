/**
 * The clock abstraction every time-dependent part takes as its `clock`
 * option. Nothing outside `src/core/` reads the time or sets a timer
 * directly, so tests and the simulator can swap in a virtual clock.
 *
 * @module
 */

import { type StampedEntry, TimerWheel, type WheelEntry } from "./timer_wheel.ts";
import { typeError } from "./validate.ts";

/**
 * Opaque id of a timer set through {@link Clock.setTimer} (a number or the
 * runtime's timer object; never `undefined`).
 */
export type TimerId = number | object;

/**
 * A source of time and timers. All values are milliseconds.
 *
 * @example A clock that is always ten seconds ahead
 * ```ts
 * import { type Clock, systemClock } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const ahead: Clock = {
 *   now: () => systemClock.now() + 10_000,
 *   sleep: (ms, signal) => systemClock.sleep(ms, signal),
 *   setTimer: (cb, ms) => systemClock.setTimer(cb, ms),
 *   clearTimer: (id) => systemClock.clearTimer(id),
 * };
 * assert.ok(ahead.now() > systemClock.now());
 * ```
 */
export interface Clock {
  /** Current time in milliseconds. {@link systemClock} uses epoch milliseconds. */
  now(): number;
  /**
   * Resolves after `ms`. Rejects with `signal.reason` as soon as `signal`
   * aborts (at once if it already has), leaving no timer behind. A delay of
   * zero or less resolves on the next microtask.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Calls `callback` once after `ms`; returns an id for {@link Clock.clearTimer}. */
  setTimer(callback: () => void, ms: number): TimerId;
  /** Cancels a timer; ignores ids that already fired or were cleared. */
  clearTimer(id: TimerId): void;
  /**
   * Optional: calls `callback` once at the absolute clock time `at` (or at
   * once if it has passed). Lets a caller that has just read `now()` arm a
   * deadline without a second clock read; callers fall back to `setTimer`.
   */
  setTimerAt?(callback: () => void, at: number): TimerId;
}

/**
 * Shared implementation of an abortable sleep on top of a clock's timers.
 * Exported for clock implementations, not for users.
 */
export function sleepWith(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (!(ms > 0)) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    if (signal === undefined) {
      clock.setTimer(resolve, ms);
      return;
    }
    const onAbort = () => {
      clock.clearTimer(id);
      reject(signal.reason);
    };
    const id = clock.setTimer(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** The wheel behind {@link systemClock}'s timers. */
export const systemTimerWheel: TimerWheel = new TimerWheel({ now: () => performance.now() });

/** `performance.timeOrigin`, read once (it never changes within a process). */
const ORIGIN = performance.timeOrigin;

/**
 * Internal (not exported from `mod.ts`): the lazily stamped timers of a
 * clock whose timers run on a {@link TimerWheel}, in the clock's time (wheel
 * time + `origin`). The policy's fast path arms its first attempt's deadline
 * here without reading the clock; see {@link TimerWheel.scheduleFromNow}.
 */
export class WheelTimers {
  /** The wheel. */
  readonly wheel: TimerWheel;
  /** Clock time minus wheel time. */
  readonly origin: number;

  constructor(wheel: TimerWheel, origin: number) {
    this.wheel = wheel;
    this.origin = origin;
  }

  /** Arms `entry` to fire `ms` after now, the start being stamped lazily. */
  schedule(entry: StampedEntry, ms: number): void {
    this.wheel.scheduleFromNow(entry, ms);
  }

  /** Cancels an entry. */
  cancel(entry: StampedEntry): void {
    this.wheel.cancel(entry);
  }

  /** The entry's start in clock time, stamping it now if the wheel has not. */
  stamp(entry: StampedEntry): number {
    return this.wheel.stamp(entry) + this.origin;
  }

  /** The wheel's latest reading (within about a tick) while it runs; NaN when idle. */
  coarseNow(): number {
    return this.wheel.running ? this.wheel.coarseNow() + this.origin : NaN;
  }
}

const WHEEL_TIMERS = new WeakMap<Clock, WheelTimers>();

/** Internal: the wheel timers of `clock`, if its timers run on a wheel. */
export function wheelTimers(clock: Clock): WheelTimers | undefined {
  return WHEEL_TIMERS.get(clock);
}

/**
 * Internal: a clock whose `now` is the wheel's time plus `origin` and whose
 * timers run on `wheel`. `sleep` defaults to the wheel too. Tests build one
 * on a wheel with a hand-moved `now` to drive the fast path in virtual time.
 */
export function wheelClock(
  wheel: TimerWheel,
  now: () => number,
  origin = 0,
  sleep?: Clock["sleep"],
): Clock {
  const clock: Clock = {
    now,
    sleep: sleep ?? ((ms, signal) => sleepWith(clock, ms, signal)),
    setTimer: (callback, ms) => wheel.schedule(callback, ms),
    setTimerAt: (callback, at) => wheel.scheduleAt(callback, at - origin),
    clearTimer: (id) => wheel.cancel(id as WheelEntry),
  };
  WHEEL_TIMERS.set(clock, new WheelTimers(wheel, origin));
  return clock;
}

/**
 * The real clock: epoch milliseconds from the monotonic high-resolution
 * timer (`performance.timeOrigin + performance.now()`, so it never jumps
 * back when the wall clock is adjusted).
 *
 * - `setTimer` / `clearTimer` (deadlines, attempt and queue timeouts) go
 *   through one shared, coarse timer wheel: arming costs a bucket insert, not
 *   a runtime timer; a timer fires no earlier than asked and at most one 5 ms
 *   tick (plus event-loop latency) later. The wheel's single interval stops
 *   once no timer is pending, so it never keeps an idle process alive.
 * - `sleep` (backoff delays) uses a precise runtime timer.
 * - No timer ends early, however long: runtime timers fire a delay of 2^31
 *   ms (about 24.9 days) or more after about 1 ms, so a longer `sleep` is a
 *   chain of runtime timers that re-arms until it is due, and a long
 *   `setTimer` waits in the wheel's far buckets until its tick comes.
 *
 * @example
 * ```ts
 * import { systemClock } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const start = systemClock.now();
 * await systemClock.sleep(1);
 * assert.ok(systemClock.now() >= start);
 * ```
 */
export const systemClock: Clock = wheelClock(
  systemTimerWheel,
  () => ORIGIN + performance.now(),
  ORIGIN,
  (ms, signal) => sleepWith(preciseTimers, ms, signal),
);

/**
 * The longest delay a runtime timer keeps: 2^31 - 1 ms (about 24.9 days).
 * Deno, Node and browsers fire a `setTimeout` of 2^31 ms or more after
 * about 1 ms instead, so a longer delay is chained from timers of at most
 * this length (see {@link runtimeTimers}).
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** A runtime timer layer: `setTimeout`/`clearTimeout` and a monotonic `now`. */
export interface RuntimeTimerLayer {
  /** Arms a one-shot timer (`setTimeout`). */
  set(callback: () => void, ms: number): unknown;
  /** Cancels it (`clearTimeout`). */
  clear(handle: unknown): void;
  /** Monotonic milliseconds (`performance.now`). */
  now(): number;
}

/**
 * A timer longer than {@link MAX_TIMER_DELAY_MS}: a chain of runtime timers,
 * each re-arming for what is left until the due time has come.
 */
class ChainedTimer {
  readonly #layer: RuntimeTimerLayer;
  readonly #callback: () => void;
  readonly #due: number;
  #handle: unknown;

  constructor(layer: RuntimeTimerLayer, callback: () => void, ms: number) {
    this.#layer = layer;
    this.#callback = callback;
    this.#due = layer.now() + ms;
    this.#handle = layer.set(this.#onFire, MAX_TIMER_DELAY_MS);
  }

  readonly #onFire = () => {
    const left = this.#due - this.#layer.now();
    if (!(left > 0)) {
      this.#handle = undefined;
      this.#callback();
    } else {
      // Also re-arms a link that fired early (a clamped or drifting timer).
      this.#handle = this.#layer.set(
        this.#onFire,
        left > MAX_TIMER_DELAY_MS ? MAX_TIMER_DELAY_MS : left,
      );
    }
  };

  cancel(): void {
    if (this.#handle !== undefined) this.#layer.clear(this.#handle);
    this.#handle = undefined;
  }
}

/**
 * Internal: a clock whose timers are the runtime timers of `layer`, exact
 * for every delay. A delay up to {@link MAX_TIMER_DELAY_MS} is one runtime
 * timer, as before; a longer one (a 30-day backoff, `Infinity`) is chained,
 * so it never ends early. Tests pass a fake layer that clamps long delays
 * as the runtime does.
 */
export function runtimeTimers(layer: RuntimeTimerLayer, now: () => number): Clock {
  const clock: Clock = {
    now,
    sleep: (ms, signal) => sleepWith(clock, ms, signal),
    setTimer: (callback, ms) =>
      ms > MAX_TIMER_DELAY_MS
        ? new ChainedTimer(layer, callback, ms)
        : layer.set(callback, ms) as TimerId,
    clearTimer: (id) => {
      if (id instanceof ChainedTimer) id.cancel();
      else layer.clear(id);
    },
  };
  return clock;
}

/** Runtime timers, for sleeps that should end on time rather than on a tick. */
const preciseTimers: Clock = runtimeTimers(
  {
    set: (callback, ms) => setTimeout(callback, ms),
    clear: (handle) => clearTimeout(handle as number),
    now: () => performance.now(),
  },
  () => systemClock.now(),
);

/** A method of {@link Clock} a part relies on. */
export type ClockMethod = "now" | "sleep" | "setTimer" | "clearTimer";

/**
 * Validates a `clock` option: `undefined` means {@link systemClock};
 * anything else must be an object with the methods in `needs`. Shared by
 * every part that takes a clock, so the message reads the same everywhere.
 */
export function clockOption(
  value: unknown,
  needs: readonly ClockMethod[],
  rule = "a Clock (now, sleep, setTimer, clearTimer)",
): Clock {
  if (value === undefined) return systemClock;
  if (
    typeof value !== "object" || value === null ||
    needs.some((method) => typeof (value as Record<string, unknown>)[method] !== "function")
  ) {
    typeError("clock", rule, value);
  }
  return value as Clock;
}
