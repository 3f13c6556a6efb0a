/**
 * The "failures in a row" detector.
 *
 * @module
 */

import { integerAtLeast, integerBetween, objectValue } from "../core/validate.ts";
import type {
  ConsecutiveDetectorSnapshot,
  FailureDetector,
  OutcomeCode,
  TripReason,
} from "./failure_detector.ts";
import {
  FAILURE,
  optionalSlowCallRatio,
  outcomeCodes,
  SLOW,
  snapshotMatches,
  SUCCESS,
} from "./_detector_shared.ts";

/** Circuit breaker options selecting the consecutive-failures detector. */
export interface ConsecutiveDetectorOptions {
  /** Selects this detector. */
  kind: "consecutive";
  /** Failures in a row that open the circuit. An integer >= 1. */
  threshold: number;
}

/** Settings of a standalone {@link ConsecutiveDetector}. */
export interface ConsecutiveDetectorSettings {
  /** Failures in a row that open the circuit. An integer >= 1. */
  threshold: number;
  /**
   * Turns on slow-call detection: open when at least this share of the last
   * `threshold` calls were slow successes. A number > 0 and <= 1.
   */
  slowCallRatio?: number;
}

/** Option keys of the consecutive detector (besides `kind`). */
export const CONSECUTIVE_KEYS: readonly string[] = ["threshold"];

/** Most failures in a row a consecutive detector may wait for (its slow-call ring is `threshold` bytes). */
export const MAX_CONSECUTIVE_THRESHOLD = 100_000;

/**
 * Opens the circuit after `threshold` failures in a row; any success (slow
 * or not) ends the run.
 *
 * With `slowCallRatio`, it also remembers whether each of the last
 * `threshold` calls was a slow success (a ring of `threshold` bytes) and
 * trips with `"slow_call_threshold"` once `threshold` calls have been seen
 * and `slow / threshold >= slowCallRatio`. With `slowCallRatio: 1` that is
 * "`threshold` slow successes in a row". Failures are checked first.
 *
 * Needs no clock: `now` is ignored.
 *
 * @example
 * ```ts
 * import { ConsecutiveDetector } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const detector = new ConsecutiveDetector({ threshold: 3 });
 * for (const failed of [true, true, false, true, true]) detector.record(failed, 0);
 * assert.equal(detector.consecutiveFailures, 2); // the success ended the first run
 * detector.record(true, 0);
 * assert.equal(detector.shouldOpen(0), true);
 * ```
 */
export class ConsecutiveDetector implements FailureDetector {
  /** Always `"consecutive"`. */
  readonly kind = "consecutive" as const;
  /** Always false: this detector ignores time. */
  readonly needsTime = false as const;
  /** True without slow-call detection: a success after a success changes nothing. */
  readonly idleAfterSuccess: boolean;
  /** Failures in a row that open the circuit. */
  readonly threshold: number;
  readonly #slowCallRatio: number | undefined;
  #run = 0;
  /** Last `threshold` outcomes, only with slow-call detection. */
  readonly #ring: Uint8Array | undefined;
  #index = 0;
  #filled = 0;
  #slow = 0;

  /** Validates `settings` (TypeError / RangeError naming the option). */
  constructor(settings: ConsecutiveDetectorSettings) {
    objectValue("options", settings);
    this.threshold = integerBetween("threshold", settings.threshold, 1, MAX_CONSECUTIVE_THRESHOLD);
    this.#slowCallRatio = optionalSlowCallRatio(settings.slowCallRatio);
    if (this.#slowCallRatio !== undefined) this.#ring = new Uint8Array(this.threshold);
    this.idleAfterSuccess = this.#ring === undefined;
  }

  /** Failures in the current run. */
  get consecutiveFailures(): number {
    return this.#run;
  }

  /** Counts one call. */
  record(failed: boolean, _now: number, slow = false): void {
    if (failed) this.#run++;
    else this.#run = 0;
    const ring = this.#ring;
    if (ring !== undefined) this.#push(ring, failed ? FAILURE : slow ? SLOW : SUCCESS);
  }

  /** True when the circuit should open. */
  shouldOpen(now: number): boolean {
    return this.tripReason(now) !== undefined;
  }

  /** Why the circuit should open, if it should. */
  tripReason(_now: number): TripReason | undefined {
    if (this.#run >= this.threshold) return "failure_threshold";
    if (
      this.#slowCallRatio !== undefined && this.#filled === this.threshold &&
      this.#slow / this.threshold >= this.#slowCallRatio
    ) {
      return "slow_call_threshold";
    }
    return undefined;
  }

  /** Always `undefined`: a run has no ratio. */
  failureRate(_now: number): number | undefined {
    return undefined;
  }

  /** Slow successes among the last `threshold` calls, or `undefined` without slow-call detection. */
  slowCallRate(_now: number): number | undefined {
    if (this.#ring === undefined) return undefined;
    return this.#filled === 0 ? 0 : this.#slow / this.#filled;
  }

  /** Forgets every call. */
  reset(): void {
    this.#run = 0;
    this.#ring?.fill(0);
    this.#index = 0;
    this.#filled = 0;
    this.#slow = 0;
  }

  /** `{ kind, consecutiveFailures, outcomes? }`. */
  toJSON(): ConsecutiveDetectorSnapshot {
    const snapshot: ConsecutiveDetectorSnapshot = {
      kind: "consecutive",
      consecutiveFailures: this.#run,
    };
    const ring = this.#ring;
    if (ring !== undefined) {
      const outcomes: OutcomeCode[] = [];
      const n = ring.length;
      for (let k = 0; k < this.#filled; k++) {
        outcomes.push(ring[(this.#index - this.#filled + k + n) % n] as OutcomeCode);
      }
      snapshot.outcomes = outcomes;
    }
    return snapshot;
  }

  /** Loads a snapshot of a consecutive detector (ignores other kinds). */
  restore(snapshot: unknown, path = "snapshot"): void {
    if (!snapshotMatches(path, snapshot, "consecutive")) return;
    const s = snapshot as Partial<ConsecutiveDetectorSnapshot>;
    const run = integerAtLeast(`${path}.consecutiveFailures`, s.consecutiveFailures, 0);
    const outcomes = s.outcomes === undefined ? [] : outcomeCodes(`${path}.outcomes`, s.outcomes);
    this.reset();
    this.#run = run;
    const ring = this.#ring;
    if (ring !== undefined) {
      for (const code of outcomes.slice(-ring.length)) this.#push(ring, code);
    }
  }

  #push(ring: Uint8Array, code: number): void {
    const i = this.#index;
    if (this.#filled === ring.length) {
      if (ring[i] === SLOW) this.#slow--;
    } else {
      this.#filled++;
    }
    ring[i] = code;
    if (code === SLOW) this.#slow++;
    this.#index = i + 1 === ring.length ? 0 : i + 1;
  }
}
