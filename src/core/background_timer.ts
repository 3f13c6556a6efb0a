/**
 * Background timers: a timer for work that must never keep a process alive
 * (the fleet sync), on whatever clock the part was given.
 *
 * @module
 */

import { type Clock, systemClock, type TimerId } from "./clock.ts";

/** A cancellable background timer made by {@link backgroundTimer}. */
export interface BackgroundTimer {
  /** Cancels the timer; idempotent. */
  cancel(): void;
}

/**
 * Calls `callback` once after `ms` on `clock`. On {@link systemClock} the
 * timer is a runtime timer that is unref'd (`Deno.unrefTimer`, or Node's
 * `unref()`), so a process whose only pending work is this timer exits; on
 * any other clock (a `VirtualClock`, a wrapper) it is `clock.setTimer`.
 *
 * @example A background tick in virtual time
 * ```ts
 * import { VirtualClock } from "@bulwark/bulwark/testing";
 * import { backgroundTimer } from "./background_timer.ts";
 * import assert from "node:assert/strict";
 *
 * const clock = new VirtualClock();
 * let ticks = 0;
 * backgroundTimer(clock, () => ticks++, 1_000);
 * await clock.advance(1_000);
 * assert.equal(ticks, 1);
 * ```
 */
export function backgroundTimer(clock: Clock, callback: () => void, ms: number): BackgroundTimer {
  if (clock !== systemClock) {
    let id: TimerId | undefined = clock.setTimer(() => {
      id = undefined;
      callback();
    }, ms);
    return {
      cancel: () => {
        if (id !== undefined) clock.clearTimer(id);
        id = undefined;
      },
    };
  }
  const handle = setTimeout(callback, ms);
  const deno = (globalThis as { Deno?: { unrefTimer?(id: number): void } }).Deno;
  if (typeof handle === "number") deno?.unrefTimer?.(handle);
  else (handle as { unref?(): void }).unref?.();
  return { cancel: () => clearTimeout(handle) };
}
