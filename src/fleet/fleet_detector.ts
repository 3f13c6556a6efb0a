/**
 * A failure detector that decides on the fleet's counts: it wraps the
 * breaker's own detector (which keeps counting this instance's calls) and,
 * when the local window alone does not trip, adds the live peers' window
 * counts read at the last sync. No I/O: the peers' counts are plain numbers.
 *
 * - `count` / `time`: the circuit opens once the fleet's calls reach
 *   `minCalls` / `minThroughput` and the fleet's failure (or slow-call)
 *   ratio reaches the threshold. A `count` window checks the fleet after a
 *   failed or slow call only (a good call cannot raise the ratio; it could
 *   only bring the fleet's calls up to `minCalls`, and the next failure
 *   then opens the circuit).
 * - `consecutive`: the circuit opens once this instance is in a run of
 *   failures and the runs of all instances add up to `threshold`.
 *
 * @module
 */

import type { ConsecutiveDetector } from "../circuit/consecutive_detector.ts";
import type { CountDetector } from "../circuit/count_detector.ts";
import type {
  DetectorKind,
  DetectorSnapshot,
  FailureDetector,
  TripReason,
} from "../circuit/failure_detector.ts";
import type { TimeDetector } from "../circuit/time_detector.ts";

const CONSECUTIVE = 0;
const COUNT = 1;
const TIME = 2;

/**
 * Wraps a detector so that it decides on fleet totals (internal; built by a
 * fleet-synced breaker).
 */
export class FleetDetector implements FailureDetector {
  /** The wrapped detector's kind. */
  readonly kind: DetectorKind;
  /** The wrapped detector's `needsTime`. */
  readonly needsTime: boolean;
  readonly #inner: FailureDetector;
  /** `[calls, failures, slowCalls]` of the live peers (the fleet member's array). */
  readonly #peers: number[];
  readonly #slowCallRatio: number;
  readonly #kind: number;
  readonly #threshold: number;
  /** `minCalls` (count) or `minThroughput` (time); unused for consecutive. */
  readonly #minCalls: number;
  /** The last recorded call failed or was slow. */
  #bad = false;

  constructor(inner: FailureDetector, peers: number[], slowCallRatio: number) {
    this.#inner = inner;
    this.kind = inner.kind;
    this.needsTime = inner.needsTime;
    this.#peers = peers;
    this.#slowCallRatio = slowCallRatio;
    this.#kind = inner.kind === "consecutive" ? CONSECUTIVE : inner.kind === "count" ? COUNT : TIME;
    this.#threshold = (inner as ConsecutiveDetector | CountDetector | TimeDetector).threshold;
    this.#minCalls = inner.kind === "count"
      ? (inner as CountDetector).minCalls
      : inner.kind === "time"
      ? (inner as TimeDetector).minThroughput
      : 0;
  }

  /** This instance's `[calls, failures, slowCalls]` in its window (a consecutive run: its length twice). */
  counts(now: number): number[] {
    const inner = this.#inner;
    if (inner.kind === "consecutive") {
      const run = (inner as ConsecutiveDetector).consecutiveFailures;
      return [run, run, 0];
    }
    const calls = inner.kind === "count"
      ? (inner as CountDetector).calls
      : (inner as TimeDetector).calls(now);
    return [
      calls,
      Math.round((inner.failureRate(now) ?? 0) * calls),
      Math.round((inner.slowCallRate(now) ?? 0) * calls),
    ];
  }

  record(failed: boolean, now: number, slow?: boolean): void {
    this.#inner.record(failed, now, slow);
    this.#bad = failed || slow === true;
  }

  shouldOpen(now: number): boolean {
    return this.tripReason(now) !== undefined;
  }

  tripReason(now: number): TripReason | undefined {
    const local = this.#inner.tripReason(now);
    if (local !== undefined || this.#peers[0] === 0) return local;
    // After a good call the fleet ratio of a count window or a run cannot have risen: skip it.
    if (!this.#bad && this.#kind !== TIME) return undefined;
    return this.#fleetReason(now);
  }

  /** The fleet's verdict, computed without allocating (it runs on every recorded call). */
  #fleetReason(now: number): TripReason | undefined {
    const peers = this.#peers;
    const inner = this.#inner;
    if (this.#kind === CONSECUTIVE) {
      const run = (inner as ConsecutiveDetector).consecutiveFailures;
      return run > 0 && run + peers[1] >= this.#threshold ? "failure_threshold" : undefined;
    }
    const calls = this.#kind === COUNT
      ? (inner as CountDetector).calls
      : (inner as TimeDetector).calls(now);
    const total = calls + peers[0];
    if (total < this.#minCalls) return undefined;
    const failures = Math.round((inner.failureRate(now) ?? 0) * calls);
    if ((failures + peers[1]) / total >= this.#threshold) return "failure_threshold";
    if (this.#slowCallRatio === Infinity) return undefined;
    const slow = Math.round((inner.slowCallRate(now) ?? 0) * calls);
    return (slow + peers[2]) / total >= this.#slowCallRatio ? "slow_call_threshold" : undefined;
  }

  /** The fleet's failure ratio when peers have reported, else the local one. */
  failureRate(now: number): number | undefined {
    const local = this.#inner.failureRate(now);
    const peers = this.#peers;
    if (local === undefined || peers[0] === 0) return local;
    const [calls, failures] = this.counts(now);
    return (failures + peers[1]) / (calls + peers[0]);
  }

  slowCallRate(now: number): number | undefined {
    return this.#inner.slowCallRate(now);
  }

  /** Forgets every call, the peers' too (they are read again at the next sync). */
  reset(): void {
    this.#inner.reset();
    this.#peers.fill(0);
  }

  toJSON(): DetectorSnapshot {
    return this.#inner.toJSON();
  }

  restore(snapshot: unknown, path?: string): void {
    this.#inner.restore(snapshot, path);
  }
}
