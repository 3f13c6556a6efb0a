/**
 * `LatencyHistogram`: percentiles of latencies in fixed memory, with a
 * relative error bound.
 *
 * @module
 */

import {
  knownKeys,
  numberAbove,
  numberAtLeast,
  numberBetween,
  objectValue,
  rangeError,
  typeError,
} from "./validate.ts";

/** Options of {@link LatencyHistogram}. */
export interface LatencyHistogramOptions {
  /**
   * Largest relative error of a percentile, a number between 0.0001 and 0.1.
   * Default 0.01 (1 %).
   */
  relativeError?: number;
  /**
   * Values at or below this (ms) share one "zero" bucket. A finite number > 0.
   * Default 0.001 (1 µs).
   */
  minValue?: number;
  /**
   * Values above this (ms) are counted in the top bucket. A finite number >
   * `minValue`. Default 3,600,000 (one hour).
   */
  maxValue?: number;
}

/** A plain-JSON summary of a histogram, from {@link LatencyHistogram.toJSON}. */
export interface LatencyHistogramJSON {
  /** The configured relative error. */
  relativeError: number;
  /** The configured `minValue`. */
  minValue: number;
  /** The configured `maxValue`. */
  maxValue: number;
  /** Values recorded. */
  count: number;
  /** Sum of the values recorded. */
  sum: number;
  /** Smallest value recorded; `null` when empty. */
  min: number | null;
  /** Largest value recorded; `null` when empty. */
  max: number | null;
  /** `sum / count`; `null` when empty. */
  mean: number | null;
  /** 50th percentile; `null` when empty. */
  p50: number | null;
  /** 90th percentile; `null` when empty. */
  p90: number | null;
  /** 95th percentile; `null` when empty. */
  p95: number | null;
  /** 99th percentile; `null` when empty. */
  p99: number | null;
  /** 99.9th percentile; `null` when empty. */
  p999: number | null;
}

const KEYS: readonly string[] = ["relativeError", "minValue", "maxValue"];

/** Most buckets a histogram may allocate (8 MB of counts). */
const MAX_BUCKETS = 1_000_000;

/**
 * The buckets are built for a relative error this much smaller than the one
 * requested, so that rounding in `Math.log`/`Math.exp` (about 1e-14 relative)
 * can never push an estimate past the documented bound.
 */
const SLACK = 1 - 1e-7;

/**
 * A histogram of non-negative values (milliseconds) in fixed memory, for
 * latency percentiles with a guaranteed relative error.
 *
 * ## How it works
 *
 * This is the bucketing of DDSketch (Masson, Rim and Lee, "DDSketch: A Fast
 * and Fully-Mergeable Quantile Sketch with Relative-Error Guarantees", PVLDB
 * 12(12), 2019), with one fixed array of counts instead of a growing store.
 * With α = `relativeError` and γ = (1 + α) / (1 − α), bucket `i` counts the
 * values in [γ^i, γ^(i+1)), and a percentile that falls in bucket `i` is
 * estimated as
 *
 *     v = 2·γ^(i+1) / (γ + 1) = (1 + α)·γ^i
 *
 * (the harmonic mean of the bucket's bounds). For any x in [γ^i, γ^(i+1)):
 *
 * - v − x ≤ v − γ^i = α·γ^i ≤ α·x, and
 * - x − v < γ^(i+1) − v, and x − v ≤ α·x ⟺ x ≤ v / (1 − α) = γ^(i+1),
 *
 * so |v − x| ≤ α·x. The buckets are built for α·(1 − 10⁻⁷) so that
 * floating-point rounding cannot break the bound. The counts live in one
 * `Float64Array` allocated by the constructor, sized from `minValue`,
 * `maxValue` and `relativeError` ({@link LatencyHistogram.bucketCount}: 1,102
 * buckets, under 9 KB, with the defaults); it never grows, no sample is kept,
 * and {@link LatencyHistogram.record} does not allocate.
 *
 * ## The guarantee
 *
 * For p in [0, 100] and n recorded values, let `exact` be the value at
 * nearest rank r = ⌈p/100 · n⌉ (r = 1 for p = 0) in the sorted values. Then
 * `percentile(p)` returns v with |v − exact| ≤ relativeError · exact whenever
 * minValue < exact ≤ maxValue. Also:
 *
 * - `percentile(0)` is the smallest value recorded and `percentile(100)` the
 *   largest, exactly; every result lies between those two.
 * - Values at or below `minValue` (including 0) share a zero bucket: a rank
 *   that falls among them reports the smallest value recorded, which is off
 *   by less than `minValue` in absolute terms.
 * - Values above `maxValue` are counted in the top bucket: a rank that falls
 *   among them reports about `maxValue` (at most the largest value recorded),
 *   so it is only a lower bound. `count`, `sum`, `min`, `max` and `mean` stay
 *   exact for every value.
 * - The rank is computed so that a product that is whole in decimal (99.9 %
 *   of 1,000 values is rank 999) is not pushed to the next rank by binary
 *   rounding.
 *
 * Histograms with the same options can be {@link LatencyHistogram.merge}d
 * (for example one per worker), with the same guarantee for the union.
 *
 * @example
 * ```ts
 * import { LatencyHistogram } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const histogram = new LatencyHistogram({ relativeError: 0.01 });
 * for (let ms = 1; ms <= 1_000; ms++) histogram.record(ms);
 *
 * assert.equal(histogram.count, 1_000);
 * assert.equal(histogram.percentile(0), 1);
 * assert.equal(histogram.percentile(100), 1_000);
 * const p99 = histogram.percentile(99); // exact: 990
 * assert.ok(Math.abs(p99 - 990) <= 0.01 * 990);
 * ```
 */
export class LatencyHistogram {
  /** The configured relative error. */
  readonly relativeError: number;
  /** Values at or below this share the zero bucket. */
  readonly minValue: number;
  /** Values above this are counted in the top bucket. */
  readonly maxValue: number;
  /** Index 0 is the zero bucket; index k >= 1 is log bucket `k + #offset`. */
  readonly #counts: Float64Array;
  /** ln γ. */
  readonly #lnGamma: number;
  /** 1 / ln γ. */
  readonly #invLnGamma: number;
  /** Log-bucket index of array slot 0 (one below the bucket of `minValue`). */
  readonly #offset: number;
  /** Last array slot. */
  readonly #top: number;
  /** 1 + α (internal α): estimate = (1 + α)·γ^i. */
  readonly #estimateFactor: number;
  #count = 0;
  #sum = 0;
  #min = Infinity;
  #max = -Infinity;

  /**
   * Creates an empty histogram. Throws a `TypeError` or `RangeError` on
   * invalid options, or a `RangeError` when they would need more than
   * 1,000,000 buckets.
   */
  constructor(options: LatencyHistogramOptions = {}) {
    objectValue("options", options);
    knownKeys("", options, KEYS);
    // Only `undefined` takes the default: knownKeys() reports a `null`.
    const relativeError = numberBetween(
      "relativeError",
      options.relativeError === undefined ? 0.01 : options.relativeError,
      0.0001,
      0.1,
    );
    const minValue = numberAbove(
      "minValue",
      options.minValue === undefined ? 0.001 : options.minValue,
      0,
    );
    const maxValue = options.maxValue === undefined ? 3_600_000 : options.maxValue;
    const maxRule = `a number > minValue (${minValue})`;
    if (typeof maxValue !== "number") typeError("maxValue", maxRule, maxValue);
    if (!Number.isFinite(maxValue) || maxValue <= minValue) {
      rangeError("maxValue", maxRule, maxValue);
    }

    const alpha = relativeError * SLACK;
    // ln γ = ln((1 + α) / (1 − α)) = 2·atanh(α)
    const lnGamma = 2 * Math.atanh(alpha);
    const invLnGamma = 1 / lnGamma;
    const offset = Math.floor(Math.log(minValue) * invLnGamma) - 1;
    const top = Math.floor(Math.log(maxValue) * invLnGamma) - offset;
    if (top + 1 > MAX_BUCKETS) {
      throw new RangeError(
        `relativeError ${relativeError} from minValue ${minValue} to maxValue ${maxValue} needs ${
          top + 1
        } buckets: at most ${MAX_BUCKETS} are allowed`,
      );
    }
    this.relativeError = relativeError;
    this.minValue = minValue;
    this.maxValue = maxValue;
    this.#lnGamma = lnGamma;
    this.#invLnGamma = invLnGamma;
    this.#offset = offset;
    this.#top = top;
    this.#estimateFactor = 1 + alpha;
    this.#counts = new Float64Array(top + 1);
  }

  /**
   * Number of buckets (the length of the preallocated count array, zero
   * bucket included). Fixed at construction: recording never changes it.
   */
  get bucketCount(): number {
    return this.#counts.length;
  }

  /** Values recorded. */
  get count(): number {
    return this.#count;
  }

  /** Sum of the values recorded (exact, including values out of range). 0 when empty. */
  get sum(): number {
    return this.#sum;
  }

  /** Smallest value recorded; NaN when empty. */
  get min(): number {
    return this.#count === 0 ? NaN : this.#min;
  }

  /** Largest value recorded; NaN when empty. */
  get max(): number {
    return this.#count === 0 ? NaN : this.#max;
  }

  /** `sum / count`; NaN when empty. */
  get mean(): number {
    return this.#count === 0 ? NaN : this.#sum / this.#count;
  }

  /**
   * Records one value (ms). Throws a `RangeError` for a negative, NaN or
   * infinite value and a `TypeError` for a non-number; the histogram is then
   * unchanged. Does not allocate.
   */
  record(value: number): void {
    if (typeof value !== "number" || !(value >= 0) || value === Infinity) {
      numberAtLeast("value", value, 0);
    }
    let k = 0;
    if (value > this.minValue) {
      k = Math.floor(Math.log(value) * this.#invLnGamma) - this.#offset;
      // Above maxValue: clamp to the top bucket. The lower clamp only guards
      // against a non-monotonic Math.log right at minValue.
      if (k > this.#top) k = this.#top;
      else if (k < 1) k = 1;
    }
    this.#counts[k]++;
    this.#count++;
    this.#sum += value;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
  }

  /**
   * The p-th percentile (p in [0, 100]) of the values recorded, within
   * `relativeError` of the value at nearest rank ⌈p/100 · n⌉ (see the class
   * documentation for the exact guarantee). NaN when nothing was recorded.
   * Throws a `RangeError` (a `TypeError` for a non-number) naming `p` when p
   * is outside [0, 100].
   */
  percentile(p: number): number {
    numberBetween("p", p, 0, 100);
    const n = this.#count;
    if (n === 0) return NaN;
    const rank = nearestRank(p, n);
    if (rank === 1) return this.#min;
    if (rank === n) return this.#max;
    const counts = this.#counts;
    let seen = 0;
    let k: number;
    if (rank <= n / 2) {
      // the bucket where the running count from the bottom reaches `rank`
      for (k = 0; k < this.#top; k++) {
        seen += counts[k];
        if (seen >= rank) break;
      }
    } else {
      // the rank-th smallest is the (n - rank + 1)-th largest: scan from the top
      const fromTop = n - rank + 1;
      for (k = this.#top; k > 0; k--) {
        seen += counts[k];
        if (seen >= fromTop) break;
      }
    }
    const estimate = k === 0
      ? 0
      : Math.exp((k + this.#offset) * this.#lnGamma) * this.#estimateFactor;
    // The exact value lies in [min, max], so clamping only brings v closer.
    return estimate < this.#min ? this.#min : estimate > this.#max ? this.#max : estimate;
  }

  /** Forgets every value recorded. Keeps the bucket array. */
  reset(): void {
    this.#counts.fill(0);
    this.#count = 0;
    this.#sum = 0;
    this.#min = Infinity;
    this.#max = -Infinity;
  }

  /**
   * Adds every value recorded in `other` to this histogram (`other` is not
   * changed). Both must have the same `relativeError`, `minValue` and
   * `maxValue`: a `RangeError` says otherwise, a `TypeError` if `other` is
   * not a `LatencyHistogram`.
   */
  merge(other: LatencyHistogram): void {
    if (!(other instanceof LatencyHistogram)) typeError("other", "a LatencyHistogram", other);
    if (
      other.relativeError !== this.relativeError || other.minValue !== this.minValue ||
      other.maxValue !== this.maxValue
    ) {
      throw new RangeError(
        `other must have the same relativeError, minValue and maxValue (${this.relativeError}, ${this.minValue}, ${this.maxValue}): received ${other.relativeError}, ${other.minValue}, ${other.maxValue}`,
      );
    }
    const mine = this.#counts;
    const theirs = other.#counts;
    for (let k = 0; k < mine.length; k++) mine[k] += theirs[k];
    this.#count += other.#count;
    this.#sum += other.#sum;
    if (other.#min < this.#min) this.#min = other.#min;
    if (other.#max > this.#max) this.#max = other.#max;
  }

  /**
   * A plain-JSON summary: the options, `count`, `sum`, `min`, `max`, `mean`
   * and the 50th, 90th, 95th, 99th and 99.9th percentiles (`null` instead of
   * NaN when empty, since JSON has no NaN).
   */
  toJSON(): LatencyHistogramJSON {
    const empty = this.#count === 0;
    const at = (p: number) => (empty ? null : this.percentile(p));
    return {
      relativeError: this.relativeError,
      minValue: this.minValue,
      maxValue: this.maxValue,
      count: this.#count,
      sum: this.#sum,
      min: empty ? null : this.#min,
      max: empty ? null : this.#max,
      mean: empty ? null : this.#sum / this.#count,
      p50: at(50),
      p90: at(90),
      p95: at(95),
      p99: at(99),
      p999: at(99.9),
    };
  }
}

/**
 * Nearest rank ⌈p/100 · n⌉, clamped to [1, n]. A product within 1e-12
 * (relative) of a whole number is taken as that number, so that
 * 99.9 / 100 · 1000 = 999.0000000000001 in binary is rank 999, not 1000.
 */
function nearestRank(p: number, n: number): number {
  const product = (p * n) / 100;
  const whole = Math.round(product);
  const rank = Math.abs(product - whole) <= 1e-12 * Math.max(1, whole) ? whole : Math.ceil(product);
  return rank < 1 ? 1 : rank > n ? n : rank;
}
