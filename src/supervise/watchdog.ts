/**
 * `withWatchdog()`: runs an operation that might hang and gives up on it at
 * a timeout, after letting the caller dump state about what was stuck.
 *
 * @module
 */

import { type Clock, clockOption, type TimerId } from "../core/clock.ts";
import { WatchdogTimeoutError } from "../core/errors.ts";
import { type EventListener, EventSink } from "../core/events.ts";
import {
  functionValue,
  knownKeys,
  nameOption,
  numberAbove,
  objectValue,
  optionalSignal,
  typeError,
} from "../core/validate.ts";

/** Options of {@link withWatchdog}. */
export interface WatchdogOptions {
  /** How long the operation may run, in milliseconds (> 0). Required. */
  timeoutMs: number;
  /**
   * Called once when the timeout fires, before the operation's signal is
   * aborted, with the error the call rejects with: the place to log what
   * the operation was stuck on. An `onTimeout` that throws (or returns a
   * promise that rejects) is ignored; the call is not kept waiting for it.
   */
  onTimeout?: (error: WatchdogTimeoutError) => unknown;
  /** Name reported as `policy` in the event and the error. Default `"watchdog"`. */
  name?: string;
  /** Aborts the operation (its signal is aborted with the same reason). */
  signal?: AbortSignal;
  /** Clock that times the watchdog. Default the system clock. */
  clock?: Clock;
  /** Receives a `watchdog_timeout` event when the timeout fires. */
  onEvent?: EventListener;
}

const WATCHDOG_KEYS: readonly string[] = [
  "timeoutMs",
  "onTimeout",
  "name",
  "signal",
  "clock",
  "onEvent",
];

/**
 * Runs `fn(signal)` and settles as it does, unless `timeoutMs` passes first.
 * At the timeout the watchdog emits a `watchdog_timeout` event, calls
 * `onTimeout` once, aborts `signal` with a `WatchdogTimeoutError` (whose
 * `policy` is `name`) and rejects with that error at once, even if `fn`
 * never settles; what `fn` does afterwards is ignored. If the caller's
 * `options.signal` aborts first, `fn`'s signal is aborted with the same
 * reason and the call rejects with it. When `fn` settles first the timer is
 * cleared.
 *
 * @example Give up on an operation that hangs
 * ```ts
 * import { withWatchdog, WatchdogTimeoutError } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * let stuckOn = "";
 * const hang = (signal: AbortSignal) =>
 *   new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
 * await assert.rejects(
 *   withWatchdog(hang, { timeoutMs: 10, onTimeout: () => (stuckOn = "the lock") }),
 *   WatchdogTimeoutError,
 * );
 * assert.equal(stuckOn, "the lock");
 * ```
 */
export function withWatchdog<T>(
  fn: (signal: AbortSignal) => T | PromiseLike<T>,
  options: WatchdogOptions,
): Promise<T> {
  if (typeof fn !== "function") typeError("fn", "a function", fn);
  objectValue("options", options);
  knownKeys("", options, WATCHDOG_KEYS);
  const timeoutMs = numberAbove("timeoutMs", options.timeoutMs, 0);
  const onTimeout = options.onTimeout === undefined
    ? undefined
    : functionValue("onTimeout", options.onTimeout);
  const name = nameOption("name", options.name, "watchdog");
  const callerSignal = optionalSignal("signal", options.signal);
  const clock = clockOption(options.clock ?? undefined, ["now", "setTimer", "clearTimer"]);
  const sink = new EventSink();
  if (options.onEvent !== undefined) sink.add(functionValue("onEvent", options.onEvent));

  if (callerSignal?.aborted) return Promise.reject(callerSignal.reason);

  return new Promise<T>((resolve, reject) => {
    const controller = new AbortController();
    let settled = false;
    let timer: TimerId | undefined;
    const finish = () => {
      settled = true;
      if (timer !== undefined) clock.clearTimer(timer);
      callerSignal?.removeEventListener("abort", onAbort);
    };
    const onAbort = () => {
      if (settled) return;
      finish();
      controller.abort(callerSignal!.reason);
      reject(callerSignal!.reason);
    };
    const onTimer = () => {
      timer = undefined;
      if (settled) return;
      finish();
      const error = new WatchdogTimeoutError(
        `watchdog "${name}" timed out after ${timeoutMs} ms`,
        { policy: name },
      );
      if (sink.active) {
        sink.emit({ type: "watchdog_timeout", policy: name, timestamp: clock.now(), timeoutMs });
      }
      if (onTimeout !== undefined) {
        try {
          const result = onTimeout(error);
          if (typeof (result as PromiseLike<unknown> | undefined)?.then === "function") {
            Promise.resolve(result).catch(() => {});
          }
        } catch {
          // A failing state dump must not change how the call ends.
        }
      }
      controller.abort(error);
      reject(error);
    };
    timer = clock.setTimer(onTimer, timeoutMs);
    callerSignal?.addEventListener("abort", onAbort, { once: true });

    let result: T | PromiseLike<T>;
    try {
      result = fn(controller.signal);
    } catch (error) {
      finish();
      reject(error);
      return;
    }
    Promise.resolve(result).then(
      (value) => {
        if (settled) return;
        finish();
        resolve(value);
      },
      (error) => {
        if (settled) return;
        finish();
        reject(error);
      },
    );
  });
}
