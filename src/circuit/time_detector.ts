/**
 * The time-window detector: failure ratio over a rolling window of time.
 *
 * @module
 */

import { integerAtLeast, numberAbove, objectValue, typeError } from "../core/validate.ts";
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

/**
 * Counts calls, failures and slow successes in `buckets` buckets of
 * `bucketMs = windowMs / buckets`, aligned to multiples of `bucketMs` on the
 * clock, and keeps running totals over the window (the current bucket and
 * the `buckets - 1` before it). Memory is three arrays of `buckets` numbers,
 * whatever the call rate; expiry is lazy, with no timer: recording a call
 * moves the window, and queries (`tripReason`, the rates) compute the window
 * at `now` without changing anything.
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
  readonly #calls: Float64Array;
  readonly #failures: Float64Array;
  readonly #slowCalls: Float64Array;
  /** Number of the newest bucket seen (time / bucketMs, floored). */
  #head = -Infinity;
  /** Slot of the newest bucket. */
  #slot = 0;
  #totalCalls = 0;
  #totalFailures = 0;
  #totalSlow = 0;
  // Window totals at the time last passed to #measure (queries do not move the window).
  #seenCalls = 0;
  #seenFailures = 0;
  #seenSlow = 0;

  /** Validates `settings` (TypeError / RangeError naming the option). */
  constructor(settings: TimeDetectorSettings) {
    objectValue("options", settings);
    this.windowMs = numberAbove("windowMs", settings.windowMs, 0);
    const buckets = settings.buckets === undefined
      ? DEFAULT_BUCKETS
      : integerAtLeast("buckets", settings.buckets, 1);
    this.threshold = ratioOption("threshold", settings.threshold);
    this.minThroughput = settings.minThroughput === undefined
      ? DEFAULT_MIN_THROUGHPUT
      : integerAtLeast("minThroughput", settings.minThroughput, 1);
    this.#slowCallRatio = optionalSlowCallRatio(settings.slowCallRatio);
    this.bucketMs = this.windowMs / buckets;
    this.#calls = new Float64Array(buckets);
    this.#failures = new Float64Array(buckets);
    this.#slowCalls = new Float64Array(buckets);
  }

  /** Number of buckets held: always the `buckets` option, whatever the traffic. */
  get bucketCount(): number {
    return this.#calls.length;
  }

  /** Calls in the window at `now`. */
  calls(now: number): number {
    this.#measure(now);
    return this.#seenCalls;
  }

  /** Counts one call at `now`. */
  record(failed: boolean, now: number, slow = false): void {
    this.#advance(now);
    const s = this.#slot;
    this.#calls[s]++;
    this.#totalCalls++;
    if (failed) {
      this.#failures[s]++;
      this.#totalFailures++;
    } else if (slow) {
      this.#slowCalls[s]++;
      this.#totalSlow++;
    }
  }

  /** True when the circuit should open at `now`. */
  shouldOpen(now: number): boolean {
    return this.tripReason(now) !== undefined;
  }

  /** Why the circuit should open at `now`, if it should. */
  tripReason(now: number): TripReason | undefined {
    this.#measure(now);
    const calls = this.#seenCalls;
    if (calls < this.minThroughput) return undefined;
    if (this.#seenFailures / calls >= this.threshold) return "failure_threshold";
    if (this.#slowCallRatio !== undefined && this.#seenSlow / calls >= this.#slowCallRatio) {
      return "slow_call_threshold";
    }
    return undefined;
  }

  /** Failures / calls in the window at `now` (0 when empty). */
  failureRate(now: number): number {
    this.#measure(now);
    return this.#seenCalls === 0 ? 0 : this.#seenFailures / this.#seenCalls;
  }

  /** Slow successes / calls in the window at `now`, or `undefined` without slow-call detection. */
  slowCallRate(now: number): number | undefined {
    if (this.#slowCallRatio === undefined) return undefined;
    this.#measure(now);
    return this.#seenCalls === 0 ? 0 : this.#seenSlow / this.#seenCalls;
  }

  /** Forgets every call. */
  reset(): void {
    this.#calls.fill(0);
    this.#failures.fill(0);
    this.#slowCalls.fill(0);
    this.#head = -Infinity;
    this.#slot = 0;
    this.#totalCalls = 0;
    this.#totalFailures = 0;
    this.#totalSlow = 0;
  }

  /** `{ kind: "time", bucketMs, head, calls, failures, slowCalls }` (arrays by slot). */
  toJSON(): TimeDetectorSnapshot {
    return {
      kind: "time",
      bucketMs: this.bucketMs,
      head: this.#head === -Infinity ? null : this.#head,
      calls: Array.from(this.#calls),
      failures: Array.from(this.#failures),
      slowCalls: Array.from(this.#slowCalls),
    };
  }

  /**
   * Loads a snapshot of a time detector. Ignored (the detector stays empty)
   * for another kind, another `bucketMs` or another bucket count.
   */
  restore(snapshot: unknown, path = "snapshot"): void {
    if (!snapshotMatches(path, snapshot, "time")) return;
    const s = snapshot as Partial<TimeDetectorSnapshot>;
    const n = this.#calls.length;
    const counts = (key: "calls" | "failures" | "slowCalls"): number[] => {
      const v = s[key];
      if (!Array.isArray(v) || !v.every((x) => typeof x === "number" && x >= 0 && x < Infinity)) {
        typeError(`${path}.${key}`, "an array of finite numbers >= 0", v);
      }
      return v;
    };
    const calls = counts("calls");
    const failures = counts("failures");
    const slowCalls = counts("slowCalls");
    const head = s.head;
    if (head !== null && !Number.isInteger(head)) {
      typeError(`${path}.head`, "an integer or null", head);
    }
    this.reset();
    if (
      s.bucketMs !== this.bucketMs || calls.length !== n || failures.length !== n ||
      slowCalls.length !== n || head === null
    ) {
      return;
    }
    this.#head = head as number;
    this.#slot = ((head as number % n) + n) % n;
    for (let i = 0; i < n; i++) {
      this.#calls[i] = calls[i];
      this.#failures[i] = failures[i];
      this.#slowCalls[i] = slowCalls[i];
      this.#totalCalls += calls[i];
      this.#totalFailures += failures[i];
      this.#totalSlow += slowCalls[i];
    }
  }

  /**
   * Sets the #seen totals to the window's totals at `now` without moving the
   * window: the running totals minus the buckets that have expired by then.
   */
  #measure(now: number): void {
    let calls = this.#totalCalls;
    let failures = this.#totalFailures;
    let slow = this.#totalSlow;
    const epoch = Math.floor(now / this.bucketMs);
    const head = this.#head;
    if (epoch > head && calls !== 0) {
      const n = this.#calls.length;
      if (epoch - head >= n) {
        calls = failures = slow = 0;
      } else {
        for (let e = head + 1; e <= epoch; e++) {
          const s = ((e % n) + n) % n;
          calls -= this.#calls[s];
          failures -= this.#failures[s];
          slow -= this.#slowCalls[s];
        }
      }
    }
    this.#seenCalls = calls;
    this.#seenFailures = failures;
    this.#seenSlow = slow;
  }

  /** Moves the window so that its newest bucket contains `now`, clearing expired buckets. */
  #advance(now: number): void {
    const epoch = Math.floor(now / this.bucketMs);
    const head = this.#head;
    if (!(epoch > head)) return; // same bucket, or the clock stepped back
    const n = this.#calls.length;
    if (epoch - head >= n) {
      if (this.#totalCalls !== 0) {
        this.#calls.fill(0);
        this.#failures.fill(0);
        this.#slowCalls.fill(0);
        this.#totalCalls = 0;
        this.#totalFailures = 0;
        this.#totalSlow = 0;
      }
    } else {
      for (let e = head + 1; e <= epoch; e++) {
        const s = ((e % n) + n) % n;
        this.#totalCalls -= this.#calls[s];
        this.#totalFailures -= this.#failures[s];
        this.#totalSlow -= this.#slowCalls[s];
        this.#calls[s] = 0;
        this.#failures[s] = 0;
        this.#slowCalls[s] = 0;
      }
    }
    this.#head = epoch;
    this.#slot = ((epoch % n) + n) % n;
  }
}
