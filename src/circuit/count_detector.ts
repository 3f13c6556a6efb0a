/**
 * The count-window detector: failure ratio over the last `size` calls.
 *
 * @module
 */

import { integerBetween, objectValue, rangeError, typeError } from "../core/validate.ts";

/** Most calls a count window may hold (`size`): its ring buffer is `size` bytes. */
export const MAX_COUNT_SIZE = 100_000;
import type {
  CountDetectorSnapshot,
  FailureDetector,
  OutcomeCode,
  TripReason,
} from "./failure_detector.ts";
import {
  FAILURE,
  optionalSlowCallRatio,
  outcomeCodes,
  ratioOption,
  SLOW,
  snapshotMatches,
  SUCCESS,
} from "./_detector_shared.ts";

/** Circuit breaker options selecting the count-window detector. */
export interface CountDetectorOptions {
  /** Selects this detector. */
  kind: "count";
  /** Calls in the window. An integer >= 1. */
  size: number;
  /** Failure ratio that opens the circuit. A number > 0 and <= 1. */
  threshold: number;
  /** Calls that must be in the window before it can open. An integer in [1, size]. Default `size`. */
  minCalls?: number;
}

/** Settings of a standalone {@link CountDetector}. */
export interface CountDetectorSettings {
  /** Calls in the window. An integer >= 1. */
  size: number;
  /** Failure ratio that opens the circuit. A number > 0 and <= 1. */
  threshold: number;
  /** Calls that must be in the window before it can open. An integer in [1, size]. Default `size`. */
  minCalls?: number;
  /** Turns on slow-call detection: open when slow successes / calls >= this. A number > 0 and <= 1. */
  slowCallRatio?: number;
}

/** Option keys of the count detector (besides `kind`). */
export const COUNT_KEYS: readonly string[] = ["size", "threshold", "minCalls"];

/**
 * Keeps the outcomes of the last `size` calls in a ring buffer of `size`
 * bytes. Once at least `minCalls` calls are in it, the circuit should open
 * when `failures / calls >= threshold` (reason `"failure_threshold"`), or,
 * with slow-call detection, when `slowSuccesses / calls >= slowCallRatio`
 * (reason `"slow_call_threshold"`). `calls` is the number of calls in the
 * window: it grows to `size`, then stays there as each new call pushes out
 * the oldest.
 *
 * Needs no clock: `now` is ignored.
 *
 * @example 5 failures in the last 10 calls trips a 0.5 threshold
 * ```ts
 * import { CountDetector } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const detector = new CountDetector({ size: 10, threshold: 0.5 });
 * for (let i = 0; i < 9; i++) detector.record(i % 2 === 0, 0); // 5 F, 4 S
 * assert.equal(detector.shouldOpen(0), false); // 9 calls < minCalls (10)
 * detector.record(false, 0);
 * assert.equal(detector.failureRate(0), 0.5);
 * assert.equal(detector.tripReason(0), "failure_threshold");
 * ```
 */
export class CountDetector implements FailureDetector {
  /** Always `"count"`. */
  readonly kind = "count" as const;
  /** Always false: this detector ignores time. */
  readonly needsTime = false as const;
  /** Calls in the window. */
  readonly size: number;
  /** Failure ratio that opens the circuit. */
  readonly threshold: number;
  /** Calls needed before the circuit can open. */
  readonly minCalls: number;
  readonly #slowCallRatio: number | undefined;
  readonly #ring: Uint8Array;
  #index = 0;
  #calls = 0;
  #failures = 0;
  #slow = 0;

  /** Validates `settings` (TypeError / RangeError naming the option). */
  constructor(settings: CountDetectorSettings) {
    objectValue("options", settings);
    this.size = integerBetween("size", settings.size, 1, MAX_COUNT_SIZE);
    this.threshold = ratioOption("threshold", settings.threshold);
    if (settings.minCalls === undefined) {
      this.minCalls = this.size;
    } else {
      const rule = `an integer between 1 and size (${this.size})`;
      const m = settings.minCalls;
      if (typeof m !== "number") typeError("minCalls", rule, m);
      if (!Number.isInteger(m) || m < 1 || m > this.size) rangeError("minCalls", rule, m);
      this.minCalls = m;
    }
    this.#slowCallRatio = optionalSlowCallRatio(settings.slowCallRatio);
    this.#ring = new Uint8Array(this.size);
  }

  /** Calls in the window (at most `size`). */
  get calls(): number {
    return this.#calls;
  }

  /** Counts one call. */
  record(failed: boolean, _now: number, slow = false): void {
    const ring = this.#ring;
    const i = this.#index;
    if (this.#calls === ring.length) {
      const old = ring[i];
      if (old === FAILURE) this.#failures--;
      else if (old === SLOW) this.#slow--;
    } else {
      this.#calls++;
    }
    if (failed) {
      ring[i] = FAILURE;
      this.#failures++;
    } else if (slow) {
      ring[i] = SLOW;
      this.#slow++;
    } else {
      ring[i] = SUCCESS;
    }
    this.#index = i + 1 === ring.length ? 0 : i + 1;
  }

  /** True when the circuit should open. */
  shouldOpen(now: number): boolean {
    return this.tripReason(now) !== undefined;
  }

  /** Why the circuit should open, if it should. */
  tripReason(_now: number): TripReason | undefined {
    const calls = this.#calls;
    if (calls < this.minCalls) return undefined;
    if (this.#failures / calls >= this.threshold) return "failure_threshold";
    if (this.#slowCallRatio !== undefined && this.#slow / calls >= this.#slowCallRatio) {
      return "slow_call_threshold";
    }
    return undefined;
  }

  /** Failures / calls in the window (0 when empty). */
  failureRate(_now: number): number {
    return this.#calls === 0 ? 0 : this.#failures / this.#calls;
  }

  /** Slow successes / calls in the window, or `undefined` without slow-call detection. */
  slowCallRate(_now: number): number | undefined {
    if (this.#slowCallRatio === undefined) return undefined;
    return this.#calls === 0 ? 0 : this.#slow / this.#calls;
  }

  /** Forgets every call. */
  reset(): void {
    this.#ring.fill(0);
    this.#index = 0;
    this.#calls = 0;
    this.#failures = 0;
    this.#slow = 0;
  }

  /** `{ kind: "count", outcomes }`, oldest first. */
  toJSON(): CountDetectorSnapshot {
    const ring = this.#ring;
    const n = ring.length;
    const outcomes: OutcomeCode[] = [];
    for (let k = 0; k < this.#calls; k++) {
      outcomes.push(ring[(this.#index - this.#calls + k + n) % n] as OutcomeCode);
    }
    return { kind: "count", outcomes };
  }

  /**
   * Loads a snapshot of a count detector (ignores other kinds). With a
   * different `size`, the most recent `size` outcomes are kept.
   */
  restore(snapshot: unknown, path = "snapshot"): void {
    if (!snapshotMatches(path, snapshot, "count")) return;
    const outcomes = outcomeCodes(
      `${path}.outcomes`,
      (snapshot as Partial<CountDetectorSnapshot>).outcomes,
    );
    this.reset();
    for (const code of outcomes.slice(-this.size)) {
      this.record(code === FAILURE, 0, code === SLOW);
    }
  }
}
