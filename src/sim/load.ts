/**
 * Loads: when a simulated client starts its calls.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";
import type { RandomSource } from "../core/random.ts";
import {
  integerBetween,
  knownKeys,
  numberAtLeast,
  objectValue,
  rangeError,
  typeError,
} from "../core/validate.ts";

/**
 * Upper bounds of a load and a run, so that a run's work and memory stay
 * bounded: at most 100,000 calls per second from a rate, 1,000,000 calls in
 * a burst, a day of loads (`durationMs`) and a day of drain (`drainMs`), so
 * at most 2 × 86,400 timeline rows per part.
 */
export const LIMITS = {
  ratePerSecond: 100_000,
  burstCount: 1_000_000,
  durationMs: 86_400_000,
  drainMs: 86_400_000,
} as const;

/** Calls at a steady rate: every 1000 / ratePerSecond ms from `fromMs` until before `toMs`. */
export interface ConstantLoad {
  /** Discriminant. */
  kind: "constant";
  /** Calls per second (> 0, <= 100,000). */
  ratePerSecond: number;
  /** First call (ms). Default 0. */
  fromMs?: number;
  /** No call at or after this (ms). Default: the end of the run. */
  toMs?: number;
}

/** Calls as a Poisson process: exponential gaps with mean 1000 / ratePerSecond ms. */
export interface PoissonLoad {
  /** Discriminant. */
  kind: "poisson";
  /** Mean calls per second (> 0, <= 100,000). */
  ratePerSecond: number;
  /** Start of the process (ms). Default 0. */
  fromMs?: number;
  /** No call at or after this (ms). Default: the end of the run. */
  toMs?: number;
}

/** A herd: `count` calls started at the same instant. */
export interface BurstLoad {
  /** Discriminant. */
  kind: "burst";
  /** Calls (1 to 1,000,000). */
  count: number;
  /** When (ms). Default 0. */
  atMs?: number;
}

/** A load of {@link Simulation.load}. */
export type LoadOptions = ConstantLoad | PoissonLoad | BurstLoad;

/** Checks a load, naming the option and the value. */
export function validateLoad(load: LoadOptions): void {
  objectValue("load", load);
  switch (load.kind) {
    case "constant":
    case "poisson": {
      knownKeys("", load, ["kind", "ratePerSecond", "fromMs", "toMs"]);
      const rule = `a number > 0 and <= ${LIMITS.ratePerSecond}`;
      if (typeof load.ratePerSecond !== "number") {
        typeError("ratePerSecond", rule, load.ratePerSecond);
      }
      if (!(load.ratePerSecond > 0 && load.ratePerSecond <= LIMITS.ratePerSecond)) {
        rangeError("ratePerSecond", rule, load.ratePerSecond);
      }
      const from = load.fromMs === undefined ? 0 : numberAtLeast("fromMs", load.fromMs, 0);
      if (load.toMs !== undefined) {
        numberAtLeast("toMs", load.toMs, 0);
        if (load.toMs < from) rangeError("toMs", `a number >= fromMs (${from})`, load.toMs);
      }
      return;
    }
    case "burst":
      knownKeys("", load, ["kind", "count", "atMs"]);
      integerBetween("count", load.count, 1, LIMITS.burstCount);
      if (load.atMs !== undefined) numberAtLeast("atMs", load.atMs, 0);
      return;
    default:
      typeError("kind", '"constant", "poisson" or "burst"', (load as { kind: unknown }).kind);
  }
}

/**
 * Internal: arms a load on `clock`, one pending timer at a time, calling
 * `start()` for each call. `endMs` caps open-ended loads.
 */
export function armLoad(
  load: LoadOptions,
  clock: Clock,
  random: RandomSource,
  endMs: number,
  start: () => void,
): void {
  if (load.kind === "burst") {
    const at = load.atMs ?? 0;
    if (at >= endMs) return;
    clock.setTimer(() => {
      for (let i = 0; i < load.count; i++) start();
    }, at - clock.now());
    return;
  }
  const from = load.fromMs ?? 0;
  const to = Math.min(load.toMs ?? endMs, endMs);
  const mean = 1000 / load.ratePerSecond;
  // Constant: call k at from + k·mean (no drift from summing gaps).
  let k = 0;
  let at = load.kind === "constant" ? from : from - mean * Math.log(1 - random());
  const tick = () => {
    start();
    k++;
    at = load.kind === "constant" ? from + k * mean : at - mean * Math.log(1 - random());
    if (at < to) clock.setTimer(tick, at - clock.now());
  };
  if (at < to) clock.setTimer(tick, at - clock.now());
}
