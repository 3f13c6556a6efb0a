/**
 * Seeded pseudo-random numbers, so jittered backoff and simulations are
 * reproducible.
 *
 * @module
 */

import { integerAtLeast } from "./validate.ts";

/** A source of random numbers in [0, 1), like `Math.random`. */
export type RandomSource = () => number;

/**
 * Returns a deterministic generator of numbers in [0, 1) for a 32-bit
 * integer seed. The algorithm is mulberry32 (Tommy Ettinger, public domain):
 * fast, 2^32 period, good enough for jitter and simulation, not for
 * cryptography.
 *
 * @example Same seed, same sequence
 * ```ts
 * import { seededRandom } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const a = seededRandom(42);
 * const b = seededRandom(42);
 * assert.equal(a(), b());
 * ```
 */
export function seededRandom(seed: number): RandomSource {
  let state = integerAtLeast("seed", seed, -(2 ** 31)) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The default random source (`Math.random`); pass `seededRandom(seed)`
 * instead for reproducible jitter.
 *
 * @example
 * ```ts
 * import { defaultRandom } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const r = defaultRandom();
 * assert.ok(r >= 0 && r < 1);
 * ```
 */
export const defaultRandom: RandomSource = Math.random;
