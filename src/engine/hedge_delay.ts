/**
 * The hedge delay: how long a hedged call waits for an attempt before it
 * starts another. A fixed number, or a percentile of the policy's own
 * recent successful attempt latencies, read from fixed-memory histograms.
 *
 * @module
 */

import { LatencyHistogram } from "../core/latency_histogram.ts";
import {
  integerAtLeast,
  knownKeys,
  nullOption,
  numberAtLeast,
  objectValue,
  typeError,
} from "../core/validate.ts";

/** A percentile the hedge delay can follow. */
export type HedgePercentile = "p50" | "p90" | "p95" | "p99";

/** The `hedge` option of `policy()`. */
export interface HedgeOptions {
  /**
   * How long an attempt may run before another starts beside it: a number
   * of milliseconds (>= 0), or a percentile of this policy's recent
   * successful attempt latencies. A percentile sends no hedge until 100
   * successful attempts have been seen.
   */
  delayMs: number | HedgePercentile;
  /** Most extra attempts in flight beside the first: an integer >= 1. Default 1. */
  maxHedges?: number;
  /** A percentile delay is never below this (ms, >= 0). Default 1. */
  minDelayMs?: number;
}

/** The keys of {@link HedgeOptions}. */
export const HEDGE_OPTION_KEYS: readonly string[] = Object.freeze([
  "delayMs",
  "maxHedges",
  "minDelayMs",
]);

/** The percentiles `delayMs` may name, and the number each stands for. */
export const HEDGE_PERCENTILES: Readonly<Record<HedgePercentile, number>> = Object.freeze({
  p50: 50,
  p90: 90,
  p95: 95,
  p99: 99,
});

/** Successful attempts seen before a percentile delay sends its first hedge. */
export const HEDGE_MIN_SAMPLES = 100;

/**
 * Samples per generation: the delay follows the latest 1,000 to 2,000
 * successful attempts (the current generation and the one before it).
 */
const GENERATION = 1_000;

/** The delay is recomputed every this many samples (a scan of the buckets). */
const RECOMPUTE_EVERY = 250;

// Latencies from 10 µs to 10 minutes within 1 % (898 buckets, 7 KB each histogram).
const HISTOGRAM = Object.freeze({ relativeError: 0.01, minValue: 0.01, maxValue: 600_000 });

/**
 * The delay before each hedge of a policy's calls. Built by `policy()` from
 * its `hedge` option; internal.
 */
export class HedgeDelay {
  /** Most extra attempts in flight beside the first. */
  readonly maxHedges: number;
  /** True when the delay follows observed latencies: successes are timed and recorded. */
  readonly observes: boolean;
  /** The current delay in ms; Infinity while a percentile has too few samples. */
  delayMs: number;
  readonly #percentile: number;
  readonly #minDelayMs: number;
  #current: LatencyHistogram | undefined;
  #previous: LatencyHistogram | undefined;
  #scratch: LatencyHistogram | undefined;
  #seen = 0;

  /** Validates `options` (`path` prefixes option names in errors). */
  constructor(options: HedgeOptions, path = "hedge") {
    objectValue(path, options);
    knownKeys(path, options, HEDGE_OPTION_KEYS);
    const { delayMs, maxHedges, minDelayMs } = options;
    if (maxHedges === null) nullOption(`${path}.maxHedges`);
    if (minDelayMs === null) nullOption(`${path}.minDelayMs`);
    this.maxHedges = maxHedges === undefined
      ? 1
      : integerAtLeast(`${path}.maxHedges`, maxHedges, 1);
    this.#minDelayMs = minDelayMs === undefined
      ? 1
      : numberAtLeast(`${path}.minDelayMs`, minDelayMs, 0);
    if (typeof delayMs === "string" && Object.hasOwn(HEDGE_PERCENTILES, delayMs)) {
      this.#percentile = HEDGE_PERCENTILES[delayMs];
      this.observes = true;
      this.delayMs = Infinity;
    } else if (typeof delayMs === "number") {
      this.#percentile = NaN;
      this.observes = false;
      this.delayMs = numberAtLeast(`${path}.delayMs`, delayMs, 0);
    } else {
      if (delayMs === null) nullOption(`${path}.delayMs`);
      typeError(
        `${path}.delayMs`,
        'a number of milliseconds >= 0 or one of "p50", "p90", "p95", "p99"',
        delayMs,
      );
    }
  }

  /** Samples seen so far (successful attempts timed). */
  get samples(): number {
    return this.#seen;
  }

  /** Records a successful attempt's latency (ms); a no-op for a fixed delay. */
  record(ms: number): void {
    if (!this.observes || !(ms >= 0)) return;
    let current = this.#current;
    if (current === undefined) {
      current = this.#current = new LatencyHistogram(HISTOGRAM);
      this.#previous = new LatencyHistogram(HISTOGRAM);
      this.#scratch = new LatencyHistogram(HISTOGRAM);
    }
    if (current.count === GENERATION) {
      // The older generation is forgotten: the delay follows recent latencies.
      const previous = this.#previous!;
      previous.reset();
      this.#previous = current;
      this.#current = current = previous;
    }
    current.record(ms);
    const seen = ++this.#seen;
    if (seen >= HEDGE_MIN_SAMPLES && (seen === HEDGE_MIN_SAMPLES || seen % RECOMPUTE_EVERY === 0)) {
      const scratch = this.#scratch!;
      scratch.reset();
      scratch.merge(this.#previous!);
      scratch.merge(current);
      // The upper end of the percentile's bucket: never below the observed
      // percentile (the estimate may be up to 1 % below it), so a point mass
      // at the percentile (every fast call takes exactly 10 ms) is not hedged.
      const p = scratch.percentile(this.#percentile) / (1 - HISTOGRAM.relativeError);
      this.delayMs = p > this.#minDelayMs ? p : this.#minDelayMs;
    }
  }
}
