/**
 * What goes into a circuit breaker: its options (the detector's own are in
 * the detector files) and the checks of `breakMs`, of what a `breakMs`
 * strategy returns and of the slow-call pair. The types are public
 * (re-exported by `circuit_breaker.ts`); the rest is internal.
 *
 * @module
 */

import type { BackoffStrategy } from "../backoff/strategy.ts";
import { strategyOption } from "../backoff/_options.ts";
import { type Clock, clockOption } from "../core/clock.ts";
import { type EventListener, EventSink } from "../core/events.ts";
import { defaultRandom, type RandomSource } from "../core/random.ts";
import {
  functionValue,
  integerAtLeast,
  knownKeys,
  nameOption,
  numberAtLeast,
  objectValue,
  rangeError,
  typeError,
} from "../core/validate.ts";
import { detectorKeys, type DetectorOptions } from "./detector.ts";
import type { CircuitBreakerSnapshot } from "./snapshot.ts";
import type { FleetOptions } from "../fleet/options.ts";
import { ratioOption } from "./_detector_shared.ts";

/** Options every circuit breaker takes, whatever its detector. */
export interface CircuitCommonOptions {
  /** Name used in events and errors. A non-empty string. Default `"circuit"`. */
  name?: string;
  /**
   * How long the circuit stays open before it admits a probe: a number > 0,
   * or a backoff strategy called at each opening with `{ attempt, prevDelayMs,
   * errorClass: "transient", random, now }`, where `attempt` counts the
   * consecutive openings (1 for the first after the circuit was closed) and
   * `prevDelayMs` is the previous break of the run. It should return a
   * finite number >= 0. When it throws or returns anything else the circuit
   * opens anyway with the fallback break (the run's previous break, else
   * 30,000 ms) and the transition's reason gets `+break_fallback` appended
   * (e.g. `"failure_threshold+break_fallback"`). Default 30,000.
   *
   * @example Breaks that grow while probes keep failing
   * ```ts
   * import { CircuitBreaker, exponential, type ResilienceEvent } from "@bulwark/bulwark";
   * import { VirtualClock } from "@bulwark/bulwark/testing";
   * import assert from "node:assert/strict";
   *
   * const clock = new VirtualClock();
   * const seen: string[] = [];
   * const breaker = new CircuitBreaker({
   *   name: "db",
   *   kind: "count",
   *   size: 4,
   *   threshold: 0.5,
   *   breakMs: exponential({ baseMs: 1_000 }),
   *   clock,
   *   onEvent: (e: ResilienceEvent) => {
   *     if (e.type === "circuit_transition") seen.push(`${e.from}->${e.to}`);
   *   },
   * });
   * for (const ok of [true, false, true, false]) {
   *   if (ok) breaker.recordSuccess();
   *   else breaker.recordFailure();
   * }
   * assert.equal(breaker.retryAfterMs, 1_000);
   * await clock.advance(1_000);
   * assert.equal(breaker.allowCall(), true);
   * breaker.recordFailure(); // the probe failed: the second break is twice as long
   * assert.equal(breaker.retryAfterMs, 2_000);
   * assert.deepEqual(seen, ["closed->open", "open->half_open", "half_open->open"]);
   * ```
   */
  breakMs?: number | BackoffStrategy;
  /**
   * Probes admitted while half-open; the circuit closes once all of them
   * succeed. An integer >= 1. Default 1.
   */
  halfOpenMaxCalls?: number;
  /**
   * A success that took longer than this (strictly) is a slow call. A number
   * >= 0. Required together with `slowCallRatio`; both absent by default
   * (slow-call detection off).
   */
  slowCallMs?: number;
  /**
   * Share of slow successes that opens the circuit (see the detectors for
   * the window it is measured over). A number > 0 and <= 1. Required together
   * with `slowCallMs`.
   */
  slowCallRatio?: number;
  /** Receives every event of this breaker; added to {@link CircuitBreaker.events}. */
  onEvent?: EventListener;
  /** Time source. Default {@link systemClock}. */
  clock?: Clock;
  /** Random numbers in [0, 1) passed to a `breakMs` strategy. Default `Math.random`. */
  random?: RandomSource;
  /** A {@link CircuitBreaker.toJSON} snapshot to start from. */
  initialState?: CircuitBreakerSnapshot;
  /** Shares this circuit with every breaker of the same name on `fleet.store` (docs/fleet.md). */
  fleet?: FleetOptions;
}

/**
 * Options of {@link CircuitBreaker}: the common options plus one detector,
 * flattened and selected by `kind`. This is also the shape of the `circuit`
 * block of `policy()`.
 */
export type CircuitBreakerOptions = CircuitCommonOptions & DetectorOptions;

/** The keys of {@link CircuitCommonOptions}, with `kind`. */
export const COMMON_KEYS: readonly string[] = [
  "kind",
  "name",
  "breakMs",
  "halfOpenMaxCalls",
  "slowCallMs",
  "slowCallRatio",
  "onEvent",
  "clock",
  "random",
  "initialState",
  "fleet",
];

/**
 * Default break, when `breakMs` is not given; also the fallback break of a
 * `breakMs` strategy that fails at the first opening of a run.
 */
export const DEFAULT_BREAK_MS = 30_000;

/**
 * Validates `breakMs`: a fixed break (`strategy` undefined) or a strategy
 * (`fixedMs` NaN); 30,000 ms when absent.
 */
export function breakOption(
  breakMs: unknown,
): { fixedMs: number; strategy: BackoffStrategy | undefined } {
  if (breakMs === undefined) return { fixedMs: DEFAULT_BREAK_MS, strategy: undefined };
  if (typeof breakMs === "function") {
    return { fixedMs: NaN, strategy: strategyOption("breakMs", breakMs) };
  }
  const rule = "a number > 0 or a backoff strategy";
  if (typeof breakMs !== "number") typeError("breakMs", rule, breakMs);
  if (!(breakMs > 0 && breakMs < Infinity)) rangeError("breakMs", rule, breakMs);
  return { fixedMs: breakMs, strategy: undefined };
}

/**
 * Validates `slowCallMs` and `slowCallRatio`, set together or not at all;
 * both `Infinity` when slow-call detection is off.
 */
export function slowCallOptions(
  slowCallMs: unknown,
  slowCallRatio: unknown,
): { slowCallMs: number; slowCallRatio: number } {
  if (slowCallMs === undefined && slowCallRatio !== undefined) {
    typeError("slowCallMs", "set together with slowCallRatio", slowCallMs);
  }
  if (slowCallMs !== undefined && slowCallRatio === undefined) {
    typeError("slowCallRatio", "set together with slowCallMs", slowCallRatio);
  }
  return {
    slowCallMs: slowCallMs === undefined ? Infinity : numberAtLeast("slowCallMs", slowCallMs, 0),
    slowCallRatio: slowCallRatio === undefined
      ? Infinity
      : ratioOption("slowCallRatio", slowCallRatio),
  };
}

/**
 * Calls a `breakMs` strategy for the `attempt`-th consecutive opening and
 * returns its break: a finite number >= 0. NaN when the strategy throws or
 * returns anything else, so the breaker opens with its fallback break
 * instead (see `CircuitBreaker`): a broken strategy never keeps a circuit
 * closed nor turns calls into its own error.
 */
export function breakFrom(
  strategy: BackoffStrategy,
  attempt: number,
  prevDelayMs: number | undefined,
  random: RandomSource,
  now: number,
): number {
  let ms: unknown;
  try {
    ms = strategy({ attempt, prevDelayMs, errorClass: "transient", random, now });
  } catch {
    return NaN;
  }
  return typeof ms === "number" && ms >= 0 && ms < Infinity ? ms : NaN;
}

/**
 * The break of a run's `attempt`-th opening: the fixed `breakMs`, or what
 * the strategy returns (given the run's previous break); NaN when the
 * strategy threw or returned no finite number >= 0.
 */
export function nextBreak(
  settings: BreakSettings,
  attempt: number,
  previousBreakMs: number,
  now: number,
): number {
  const strategy = settings.breakStrategy;
  if (strategy === undefined) return settings.fixedBreakMs;
  const prevDelayMs = attempt > 1 ? previousBreakMs : undefined;
  return breakFrom(strategy, attempt, prevDelayMs, settings.random, now);
}

/**
 * What is left of a break that started at `openedAt`, between 0 and
 * `breakMs`: a clock that stepped back to before the opening does not
 * stretch the break.
 */
export function openRemaining(openedAt: number, breakMs: number, now: number): number {
  const left = openedAt + breakMs - now;
  return left <= 0 ? 0 : left < breakMs ? left : breakMs;
}

/** What {@link nextBreak} needs of the resolved options. */
export type BreakSettings = Pick<
  ResolvedCircuitOptions,
  "fixedBreakMs" | "breakStrategy" | "random"
>;

/**
 * The break used when the strategy fails: the run's previous break, or
 * {@link DEFAULT_BREAK_MS} at the run's first opening.
 */
export function fallbackBreak(attempt: number, previousBreakMs: number): number {
  return attempt > 1 && previousBreakMs >= 0 && previousBreakMs < Infinity
    ? previousBreakMs
    : DEFAULT_BREAK_MS;
}

/**
 * The break of a run's `attempt`-th opening and the suffix for its
 * transition's reason: `""`, or {@link BREAK_FALLBACK} when the strategy
 * failed and the {@link fallbackBreak} is used instead.
 */
export function openingBreak(
  settings: BreakSettings,
  attempt: number,
  previousBreakMs: number,
  now: number,
): [breakMs: number, reasonSuffix: string] {
  const breakMs = nextBreak(settings, attempt, previousBreakMs, now);
  return breakMs === breakMs
    ? [breakMs, ""]
    : [fallbackBreak(attempt, previousBreakMs), BREAK_FALLBACK];
}

/**
 * Appended to an opening's `circuit_transition` reason when the `breakMs`
 * strategy threw or returned no finite number >= 0 and the fallback break
 * was used (e.g. `"failure_threshold+break_fallback"`).
 */
export const BREAK_FALLBACK = "+break_fallback";

/** The breaker's own options after validation and defaults (the detector's are its own). */
export interface ResolvedCircuitOptions {
  readonly name: string;
  /** NaN when `breakStrategy` is set. */
  readonly fixedBreakMs: number;
  readonly breakStrategy: BackoffStrategy | undefined;
  readonly halfOpenMaxCalls: number;
  /** Infinity when slow-call detection is off. */
  readonly slowCallMs: number;
  /** Infinity when slow-call detection is off. */
  readonly slowCallRatio: number;
  readonly clock: Clock;
  readonly random: RandomSource;
  /** A new sink, with `onEvent` as its first listener if given. */
  readonly events: EventSink;
}

/**
 * Validates a breaker's options (`kind` and every key included, so a typo
 * is caught; the detector's own values are left to the detector) and fills
 * in the defaults. Errors name the option (`breakMs must be ...`).
 */
export function circuitOptions(options: CircuitBreakerOptions): ResolvedCircuitOptions {
  objectValue("options", options);
  knownKeys("", options, [...COMMON_KEYS, ...detectorKeys(options.kind)]);
  const name = nameOption("name", options.name, "circuit");
  const breaks = breakOption(options.breakMs);
  const halfOpenMaxCalls = options.halfOpenMaxCalls === undefined
    ? 1
    : integerAtLeast("halfOpenMaxCalls", options.halfOpenMaxCalls, 1);
  const slow = slowCallOptions(options.slowCallMs, options.slowCallRatio);
  const clock = clockOption(options.clock, ["now"], "a Clock (an object with a now() method)");
  const random = options.random === undefined
    ? defaultRandom
    : functionValue("random", options.random);
  const events = new EventSink();
  if (options.onEvent !== undefined) events.add(functionValue("onEvent", options.onEvent));
  return {
    name,
    fixedBreakMs: breaks.fixedMs,
    breakStrategy: breaks.strategy,
    halfOpenMaxCalls,
    slowCallMs: slow.slowCallMs,
    slowCallRatio: slow.slowCallRatio,
    clock,
    random,
    events,
  };
}
