/**
 * The interface between a circuit breaker's state machine and the strategy
 * that decides when the closed circuit should open. The state machine lives
 * in `circuit_breaker.ts`; the three detectors (consecutive failures, a
 * count window, a time window) live in their own files and know nothing
 * about states.
 *
 * @module
 */

/** The detector kinds a circuit breaker can use. */
export type DetectorKind = "consecutive" | "count" | "time";

/** Why a detector wants the circuit to open. */
export type TripReason = "failure_threshold" | "slow_call_threshold";

/**
 * How a call ended, as a detector stores it: `0` success, `1` failure, `2`
 * slow success. Used in detector snapshots.
 */
export type OutcomeCode = 0 | 1 | 2;

/** Snapshot of a {@link FailureDetector} of kind `"consecutive"`. */
export interface ConsecutiveDetectorSnapshot {
  /** The detector kind. */
  kind: "consecutive";
  /** Failures in the current run. */
  consecutiveFailures: number;
  /**
   * The last calls (oldest first, at most `threshold`) as {@link OutcomeCode}s,
   * kept only when slow-call detection is on.
   */
  outcomes?: OutcomeCode[];
}

/** Snapshot of a {@link FailureDetector} of kind `"count"`. */
export interface CountDetectorSnapshot {
  /** The detector kind. */
  kind: "count";
  /** The calls in the window, oldest first, as {@link OutcomeCode}s (at most `size`). */
  outcomes: OutcomeCode[];
}

/** Snapshot of a {@link FailureDetector} of kind `"time"`. */
export interface TimeDetectorSnapshot {
  /** The detector kind. */
  kind: "time";
  /** Width of a bucket (`windowMs / buckets`). */
  bucketMs: number;
  /** Number of the newest bucket (clock time / bucketMs, floored); null before the first call. */
  head: number | null;
  /** Calls per bucket slot (bucket number `n` lives in slot `n mod buckets`). */
  calls: number[];
  /** Failures per bucket slot. */
  failures: number[];
  /** Slow successes per bucket slot. */
  slowCalls: number[];
}

/** A plain-JSON snapshot of a detector's state. */
export type DetectorSnapshot =
  | ConsecutiveDetectorSnapshot
  | CountDetectorSnapshot
  | TimeDetectorSnapshot;

/**
 * Decides when a closed circuit should open. A detector only counts: the
 * breaker feeds it the outcome of every call made while closed and asks
 * after each one whether to open. Detectors never read a clock; the breaker
 * passes `now` (and passes 0 to detectors whose {@link needsTime} is false,
 * so that it need not read the clock on the hot path).
 *
 * @example Feeding a detector by hand
 * ```ts
 * import { ConsecutiveDetector, type FailureDetector } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const detector: FailureDetector = new ConsecutiveDetector({ threshold: 2 });
 * detector.record(true, 0);
 * assert.equal(detector.shouldOpen(0), false);
 * detector.record(true, 0);
 * assert.equal(detector.tripReason(0), "failure_threshold");
 * detector.reset();
 * assert.equal(detector.shouldOpen(0), false);
 * ```
 */
export interface FailureDetector {
  /** Which detector this is. */
  readonly kind: DetectorKind;
  /** True when `record`, `shouldOpen` and the rates depend on `now`. */
  readonly needsTime: boolean;
  /**
   * True when a success right after a success changes nothing and cannot
   * trip (a consecutive detector without slow-call detection): a breaker
   * may then skip telling it. Absent: false.
   */
  readonly idleAfterSuccess?: boolean;
  /**
   * Counts one call: `failed` for a failure; `slow` for a success slower
   * than the breaker's `slowCallMs` (ignored when `failed`).
   */
  record(failed: boolean, now: number, slow?: boolean): void;
  /** True when the circuit should open now. */
  shouldOpen(now: number): boolean;
  /** Why the circuit should open now, or `undefined` if it should stay closed. */
  tripReason(now: number): TripReason | undefined;
  /** Failure ratio over the window (0 when empty); `undefined` for detectors without one. */
  failureRate(now: number): number | undefined;
  /**
   * Slow-call ratio over the window (0 when empty); `undefined` when
   * slow-call detection is off.
   */
  slowCallRate(now: number): number | undefined;
  /** Forgets every call. */
  reset(): void;
  /** A plain-JSON snapshot, accepted by {@link restore}. */
  toJSON(): DetectorSnapshot;
  /**
   * Loads a snapshot taken by a detector of the same kind. A snapshot of
   * another kind, or one that no longer fits the configuration (another
   * bucket width, say), is ignored and the detector stays empty; a malformed
   * one throws a `TypeError` naming `path`.
   */
  restore(snapshot: unknown, path?: string): void;
}
