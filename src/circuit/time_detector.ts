/**
 * The time-window detector: failure ratio over a rolling window of time.
 *
 * @module
 */

import { MAX_BUCKETS, RollingWindow } from "../core/rolling_window.ts";
import {
  integerAtLeast,
  integerBetween,
  numberAbove,
  objectValue,
  typeError,
} from "../core/validate.ts";
import type { FailureDetector, TimeDetectorSnapshot, TripReason } from "./failure_detector.ts";
import { optionalSlowCallRatio, ratioOption, snapshotMatches } from "./_detector_shared.ts";

/** Circuit breaker options selecting the time-window detector. */
export interface TimeDetectorOptions {
  /** Selects this detector. */
  kind: "time";
  /** Length of the rolling window in milliseconds. A finite number > 0. */
  windowMs: number;
  /** Buckets the window is split into. An integer >= 1. Default 10. */
  buckets?: number;
  /** Failure ratio that opens the circuit. A number > 0 and <= 1. */
  threshold: number;
  /** Calls that must be in the window before it can open. An integer >= 1. Default 100. */
  minThroughput?: number;
}

/** Settings of a standalone {@link TimeDetector}. */
export interface TimeDetectorSettings {
  /** Length of the rolling window in milliseconds. A finite number > 0. */
  windowMs: number;
  /** Buckets the window is split into. An integer >= 1. Default 10. */
  buckets?: number;
  /** Failure ratio that opens the circuit. A number > 0 and <= 1. */
  threshold: number;
  /** Calls that must be in the window before it can open. An integer >= 1. Default 100. */
  minThroughput?: number;
  /** Turns on slow-call detection: open when slow successes / calls >= this. A number > 0 and <= 1. */
  slowCallRatio?: number;
}

/** Option keys of the time detector (besides `kind`). */
export const TIME_KEYS: readonly string[] = ["windowMs", "buckets", "threshold", "minThroughput"];

/** Default `buckets`. */
export const DEFAULT_BUCKETS = 10;
/** Default `minThroughput` (Polly's default minimum throughput). */
export const DEFAULT_MIN_THROUGHPUT = 100;

/** The window's counters: every call, failures, slow successes. */
const CALLS = 0;
const FAILURES = 1;
const SLOW = 2;

/**
 * Counts calls, failures and slow successes in `buckets` buckets of
 * `bucketMs = windowMs / buckets`, aligned to multiples of `bucketMs` on the
 * clock, on the shared rolling window (`core/rolling_window.ts`), which
 * keeps running totals over the window (the current bucket and the
 * `buckets - 1` before it). Memory is `buckets` numbers per count, whatever
 * the call rate; expiry is lazy, with no timer: recording a call moves the
 * window, and queries (`tripReason`, the rates) read the window at `now`
 * without changing anything.
 *
 * Once the window holds at least `minThroughput` calls, the circuit should
 * open when `failures / calls >= threshold` (reason `"failure_threshold"`),
 * or, with slow-call detection, when `slowSuccesses / calls >=
 * slowCallRatio` (reason `"slow_call_threshold"`).
 *
 * Precision: a call made at time `t` is counted while `now - t <= windowMs -
 * bucketMs` and never once `now - t >= windowMs`; in between it depends on
 * where `t` fell in its bucket (it is forgotten when the bucket `buckets`
 * widths after its own begins). More buckets, finer edge. A clock that steps
 * back counts into the newest bucket instead of reopening old ones.
 *
 * @example A failure is forgotten one window later
 * ```ts
 * import { TimeDetector } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const detector = new TimeDetector({ windowMs: 1_000, threshold: 0.5, minThroughput: 2 });
 * detector.record(true, 0);
 * detector.record(false, 500);
 * assert.equal(detector.tripReason(999), "failure_threshold"); // 1 of 2 failed
 * assert.equal(detector.failureRate(1_000), 0); // the failure at 0 is gone
 * assert.equal(detector.bucketCount, 10);
 * ```
 */
export class TimeDetector implements FailureDetector {
  /** Always `"time"`. */
  readonly kind = "time" as const;
  /** Always true. */
  readonly needsTime = true as const;
  /** Length of the window. */
  readonly windowMs: number;
  /** Width of one bucket: `windowMs / buckets`. */
  readonly bucketMs: number;
  /** Failure ratio that opens the circuit. */
  readonly threshold: number;
  /** Calls needed before the circuit can open. */
  readonly minThroughput: number;
  readonly #slowCallRatio: number | undefined;
  /** Calls, failures and slow successes per bucket; every call passes the time (no clock). */
  readonly #window: RollingWindow;

  /** Validates `settings` (TypeError / RangeError naming the option). */
  constructor(settings: TimeDetectorSettings) {
    objectValue("options", settings);
    this.windowMs = numberAbove("windowMs", settings.windowMs, 0);
    const buckets = settings.buckets === undefined
      ? DEFAULT_BUCKETS
      : integerBetween("buckets", settings.buckets, 1, MAX_BUCKETS);
    this.threshold = ratioOption("threshold", settings.threshold);
    this.minThroughput = settings.minThroughput === undefined
      ? DEFAULT_MIN_THROUGHPUT
      : integerAtLeast("minThroughput", settings.minThroughput, 1);
    this.#slowCallRatio = optionalSlowCallRatio(settings.slowCallRatio);
    this.#window = new RollingWindow({ windowMs: this.windowMs, buckets, counters: 3 });
    this.bucketMs = this.#window.widthMs;
  }

  /** Number of buckets held: always the `buckets` option, whatever the traffic. */
  get bucketCount(): number {
    return this.#window.bucketCount;
  }

  /** Calls in the window at `now`. */
  calls(now: number): number {
    return this.#window.peek(CALLS, now);
  }

  /** Counts one call at `now`. */
  record(failed: boolean, now: number, slow = false): void {
    this.#window.addTwo(now, CALLS, failed ? FAILURES : slow ? SLOW : -1);
  }

  /** True when the circuit should open at `now`. */
  shouldOpen(now: number): boolean {
    return this.tripReason(now) !== undefined;
  }

  /** Why the circuit should open at `now`, if it should. */
  tripReason(now: number): TripReason | undefined {
    const window = this.#window;
    const calls = window.peek(CALLS, now);
    if (calls < this.minThroughput) return undefined;
    if (window.peek(FAILURES, now) / calls >= this.threshold) return "failure_threshold";
    if (
      this.#slowCallRatio !== undefined && window.peek(SLOW, now) / calls >= this.#slowCallRatio
    ) {
      return "slow_call_threshold";
    }
    return undefined;
  }

  /** Failures / calls in the window at `now` (0 when empty). */
  failureRate(now: number): number {
    const calls = this.#window.peek(CALLS, now);
    return calls === 0 ? 0 : this.#window.peek(FAILURES, now) / calls;
  }

  /** Slow successes / calls in the window at `now`, or `undefined` without slow-call detection. */
  slowCallRate(now: number): number | undefined {
    if (this.#slowCallRatio === undefined) return undefined;
    const calls = this.#window.peek(CALLS, now);
    return calls === 0 ? 0 : this.#window.peek(SLOW, now) / calls;
  }

  /** Forgets every call. */
  reset(): void {
    this.#window.clear();
  }

  /** `{ kind: "time", bucketMs, head, calls, failures, slowCalls }` (arrays by slot). */
  toJSON(): TimeDetectorSnapshot {
    const window = this.#window;
    return {
      kind: "time",
      bucketMs: this.bucketMs,
      head: window.head,
      calls: window.slots(CALLS),
      failures: window.slots(FAILURES),
      slowCalls: window.slots(SLOW),
    };
  }

  /**
   * Loads a snapshot of a time detector. Ignored (the detector stays empty)
   * for another kind, another `bucketMs` or another bucket count.
   */
  restore(snapshot: unknown, path = "snapshot"): void {
    if (!snapshotMatches(path, snapshot, "time")) return;
    const s = snapshot as Partial<TimeDetectorSnapshot>;
    const n = this.#window.bucketCount;
    const counts = (key: "calls" | "failures" | "slowCalls"): number[] => {
      const v = s[key];
      // An index loop: `every` skips the holes of a sparse array.
      let ok = Array.isArray(v);
      for (let i = 0; ok && i < v!.length; i++) {
        const x = v![i];
        // Counts are whole (toJSON() writes nothing else): a fraction would
        // leave a bucket's total a rounding error off zero once it expires.
        ok = Number.isSafeInteger(x) && (x as number) >= 0;
      }
      if (!ok) typeError(`${path}.${key}`, "an array of safe integers >= 0", v);
      return v as number[];
    };
    const calls = counts("calls");
    const failures = counts("failures");
    const slowCalls = counts("slowCalls");
    const head = s.head;
    if (head !== null && !Number.isSafeInteger(head)) {
      typeError(`${path}.head`, "a safe integer or null", head);
    }
    this.reset();
    if (
      s.bucketMs !== this.bucketMs || calls.length !== n || failures.length !== n ||
      slowCalls.length !== n || head === null
    ) {
      return;
    }
    // Indexed by counter: CALLS, FAILURES, SLOW.
    this.#window.load(head as number, [calls, failures, slowCalls]);
  }
}
