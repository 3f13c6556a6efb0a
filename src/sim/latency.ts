/**
 * Latency distributions for simulated servers and connection set-up.
 *
 * @module
 */

import type { RandomSource } from "../core/random.ts";
import {
  numberAbove,
  numberAtLeast,
  objectValue,
  rangeError,
  typeError,
  under,
} from "../core/validate.ts";

/** A latency distribution as JSON, as scenario files write it. */
export type LatencyJSON =
  | { kind: "constant"; ms: number }
  | { kind: "uniform"; minMs: number; maxMs: number }
  | { kind: "exponential"; meanMs: number }
  | { kind: "lognormal"; medianMs: number; p99Ms: number }
  | { kind: "mixture"; parts: { weight: number; dist: LatencyJSON }[] };

/**
 * A distribution of latencies in milliseconds, sampled with the
 * simulation's seeded random source.
 *
 * @example
 * ```ts
 * import { latency } from "@bulwark/bulwark/sim";
 * import { seededRandom } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const d = latency.uniform(10, 20);
 * const ms = d.sample(seededRandom(1));
 * assert.ok(ms >= 10 && ms < 20);
 * assert.deepEqual(d.toJSON(), { kind: "uniform", minMs: 10, maxMs: 20 });
 * ```
 */
export interface LatencyDistribution {
  /** Draws one latency (ms, >= 0). */
  sample(random: RandomSource): number;
  /** The distribution as scenario JSON. */
  toJSON(): LatencyJSON;
}

/** z of the standard normal's 99th percentile (Φ⁻¹(0.99)). */
const Z99 = 2.3263478740408408;

/** A standard normal draw (Box-Muller, one of the pair; 1 - u keeps log's argument > 0). */
function standardNormal(random: RandomSource): number {
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function constant(ms: number): LatencyDistribution {
  numberAtLeast("ms", ms, 0);
  return { sample: () => ms, toJSON: () => ({ kind: "constant", ms }) };
}

function uniform(minMs: number, maxMs: number): LatencyDistribution {
  numberAtLeast("minMs", minMs, 0);
  numberAtLeast("maxMs", maxMs, minMs);
  const span = maxMs - minMs;
  return {
    sample: (random) => minMs + random() * span,
    toJSON: () => ({ kind: "uniform", minMs, maxMs }),
  };
}

function exponential(meanMs: number): LatencyDistribution {
  numberAbove("meanMs", meanMs, 0);
  return {
    // Inverse transform; 1 - r is in (0, 1], so the log is finite.
    sample: (random) => -meanMs * Math.log(1 - random()),
    toJSON: () => ({ kind: "exponential", meanMs }),
  };
}

function lognormal(options: { medianMs: number; p99Ms: number }): LatencyDistribution {
  objectValue("options", options);
  const medianMs = numberAbove("medianMs", options.medianMs, 0);
  const p99Ms = numberAbove("p99Ms", options.p99Ms, medianMs);
  // ln X ~ N(mu, sigma²): median = e^mu, p99 = e^(mu + Z99·sigma).
  const mu = Math.log(medianMs);
  const sigma = Math.log(p99Ms / medianMs) / Z99;
  return {
    sample: (random) => Math.exp(mu + sigma * standardNormal(random)),
    toJSON: () => ({ kind: "lognormal", medianMs, p99Ms }),
  };
}

/** One part of a {@link latency}.mixture. */
export interface MixturePart {
  /** Relative weight (> 0); weights need not sum to 1. */
  weight: number;
  /** The distribution drawn from with probability weight / total. */
  dist: LatencyDistribution;
}

function mixture(parts: readonly MixturePart[]): LatencyDistribution {
  if (!Array.isArray(parts) || parts.length === 0) {
    typeError("parts", "a non-empty array of { weight, dist }", parts);
  }
  let total = 0;
  const cumulative: number[] = [];
  parts.forEach((part, i) => {
    objectValue(`parts[${i}]`, part);
    total += numberAbove(`parts[${i}].weight`, part.weight, 0);
    cumulative.push(total);
    const dist = part.dist as Partial<LatencyDistribution> | undefined;
    if (typeof dist?.sample !== "function") {
      typeError(`parts[${i}].dist`, "a latency distribution", part.dist);
    }
  });
  if (!Number.isFinite(total)) rangeError("parts", "weights with a finite sum", total);
  const dists = parts.map((p) => p.dist);
  return {
    sample(random) {
      const r = random() * total;
      let i = 0;
      while (i < cumulative.length - 1 && r >= cumulative[i]) i++;
      return dists[i].sample(random);
    },
    toJSON: () => ({
      kind: "mixture",
      parts: parts.map((p) => ({ weight: p.weight, dist: p.dist.toJSON() })),
    }),
  };
}

/**
 * Builds a distribution from its JSON form ({@link LatencyJSON}); the
 * inverse of `toJSON()`. Throws `RangeError`/`TypeError` naming the field.
 *
 * @example
 * ```ts
 * import { latencyFromJSON } from "@bulwark/bulwark/sim";
 * import assert from "node:assert/strict";
 *
 * const d = latencyFromJSON({ kind: "exponential", meanMs: 10 });
 * assert.deepEqual(d.toJSON(), { kind: "exponential", meanMs: 10 });
 * assert.throws(() => latencyFromJSON({ kind: "exponential", meanMs: 0 }), /meanMs must be a number > 0/);
 * ```
 */
export function latencyFromJSON(json: LatencyJSON): LatencyDistribution {
  switch (json.kind) {
    case "constant":
      return constant(json.ms);
    case "uniform":
      return uniform(json.minMs, json.maxMs);
    case "exponential":
      return exponential(json.meanMs);
    case "lognormal":
      return lognormal({ medianMs: json.medianMs, p99Ms: json.p99Ms });
    case "mixture":
      return mixture(json.parts.map((p, i) => ({
        weight: p.weight,
        dist: under(`parts[${i}].dist`, () => latencyFromJSON(p.dist)),
      })));
    default:
      return typeError(
        "kind",
        '"constant", "uniform", "exponential", "lognormal" or "mixture"',
        (json as { kind: unknown }).kind,
      );
  }
}

/**
 * The latency distributions: `constant(ms)`, `uniform(minMs, maxMs)`,
 * `exponential(meanMs)`, `lognormal({ medianMs, p99Ms })` (fitted so the
 * median and the 99th percentile are the ones given) and
 * `mixture([{ weight, dist }, ...])`.
 *
 * @example A mostly fast server with a slow tail
 * ```ts
 * import { latency } from "@bulwark/bulwark/sim";
 * import { seededRandom } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const d = latency.mixture([
 *   { weight: 9, dist: latency.constant(5) },
 *   { weight: 1, dist: latency.lognormal({ medianMs: 100, p99Ms: 1_000 }) },
 * ]);
 * const random = seededRandom(7);
 * const draws = Array.from({ length: 1_000 }, () => d.sample(random));
 * assert.ok(draws.filter((ms) => ms === 5).length > 850);
 * ```
 */
export const latency: {
  /** Always `ms`. */
  constant: (ms: number) => LatencyDistribution;
  /** Uniform on [minMs, maxMs). */
  uniform: (minMs: number, maxMs: number) => LatencyDistribution;
  /** Exponential with mean `meanMs` (an M/M/c server's service time). */
  exponential: (meanMs: number) => LatencyDistribution;
  /** Lognormal with the given median and 99th percentile. */
  lognormal: (options: { medianMs: number; p99Ms: number }) => LatencyDistribution;
  /** A weighted choice among distributions. */
  mixture: (parts: readonly MixturePart[]) => LatencyDistribution;
} = { constant, uniform, exponential, lognormal, mixture };
