/**
 * A circuit breaker's state as plain data: the snapshot that
 * `CircuitBreaker.toJSON()` returns and the `initialState` option takes
 * back (with the validation of a saved one), and the counters of
 * `stats()`. Applying a snapshot is the breaker's job (`#restore`), since
 * only the state machine sets its state. The types are public
 * (re-exported by `circuit_breaker.ts`); the rest is internal.
 *
 * @module
 */

import type { CircuitState } from "../core/events.ts";
import {
  integerAtLeast,
  knownKeys,
  numberAtLeast,
  objectValue,
  typeError,
} from "../core/validate.ts";
import type { DetectorSnapshot, FailureDetector } from "./failure_detector.ts";
import { type BreakSettings, openingBreak } from "./options.ts";

/** A plain-JSON snapshot of a breaker, from {@link CircuitBreaker.toJSON}. */
export interface CircuitBreakerSnapshot {
  /** The state when the snapshot was taken. */
  state: CircuitState;
  /** When the circuit last opened (clock ms), or null outside a run of openings. */
  openedAt: number | null;
  /** The break in force for that opening, or null outside a run of openings. */
  breakMs: number | null;
  /** Consecutive openings (0 once the circuit has closed again). */
  opens: number;
  /** The detector's state (empty unless the circuit is closed); optional in `initialState`. */
  detector?: DetectorSnapshot;
}

/** Counters and current state of a breaker, from {@link CircuitBreaker.stats}. */
export interface CircuitBreakerStats {
  /** Current state. */
  state: CircuitState;
  /** Consecutive openings (0 while closed). */
  consecutiveOpens: number;
  /** Half-open probes admitted and not yet settled. */
  probesInFlight: number;
  /** Successes recorded (slow ones included), in any state. */
  successes: number;
  /** Failures recorded, in any state. */
  failures: number;
  /** Calls refused by `allowCall()` / `execute()`. */
  rejections: number;
  /** Successes slower than `slowCallMs`. */
  slowCalls: number;
  /** Failure ratio in the detector's window; present for `count` and `time` detectors. */
  failureRate?: number;
  /** Slow-call ratio in the detector's window; present with slow-call detection. */
  slowCallRate?: number;
}

/** The states, indexed by the state machine's state numbers. */
export const CIRCUIT_STATES: readonly CircuitState[] = ["closed", "open", "half_open", "isolated"];

const SNAPSHOT_KEYS: readonly string[] = ["state", "openedAt", "breakMs", "opens", "detector"];

/** A validated `initialState`. */
export interface SavedCircuit {
  /** The saved state, as an index into {@link CIRCUIT_STATES}. */
  readonly state: number;
  /** Consecutive openings: at least 1 when the state is open or half-open. */
  readonly opens: number;
  /** When the last opening began (finite); NaN when `opens` is 0. */
  readonly openedAt: number;
  /** The break of that opening (>= 0); NaN when `opens` is 0. */
  readonly breakMs: number;
  /** The detector's snapshot, not yet validated (the detector does it); undefined if none. */
  readonly detector: unknown;
}

/**
 * Validates a snapshot passed as `initialState` (messages name
 * `<path>.<field>`), everything but its detector.
 */
export function readSnapshot(initial: unknown, path: string): SavedCircuit {
  objectValue(path, initial);
  knownKeys(path, initial as object, SNAPSHOT_KEYS, ["openedAt", "breakMs", "detector"]);
  const saved = initial as Partial<CircuitBreakerSnapshot>;
  const state = CIRCUIT_STATES.indexOf(saved.state as CircuitState);
  if (state < 0) {
    typeError(`${path}.state`, '"closed", "open", "half_open" or "isolated"', saved.state);
  }
  const inRun = saved.state === "open" || saved.state === "half_open";
  const opens = integerAtLeast(`${path}.opens`, saved.opens, inRun ? 1 : 0);
  let openedAt = NaN;
  let breakMs = NaN;
  if (opens > 0) {
    openedAt = saved.openedAt as number;
    if (typeof openedAt !== "number" || !Number.isFinite(openedAt)) {
      typeError(`${path}.openedAt`, "a finite number", openedAt);
    }
    breakMs = numberAtLeast(`${path}.breakMs`, saved.breakMs, 0);
  }
  const detector = saved.detector === null ? undefined : saved.detector;
  return { state, opens, openedAt, breakMs, detector };
}

/**
 * The run a breaker restored from `saved` starts with: an opening "in the
 * future" (a clock that differs from the one that saved it) counts from
 * `now`, so the break is never longer than `breakMs`; a closed circuit keeps
 * no openings; an isolated one comes back as a new opening now (holds do not
 * survive a restart). `openedAt` 0 and `breakMs` NaN when there was no run.
 */
export function restoredRun(
  saved: SavedCircuit,
  breaks: BreakSettings,
  now: number,
): { openedAt: number; breakMs: number; opens: number } {
  const inRun = saved.opens > 0;
  const openedAt = inRun ? Math.min(saved.openedAt, now) : 0;
  const breakMs = inRun ? saved.breakMs : NaN;
  if (saved.state === 0) return { openedAt, breakMs, opens: 0 };
  if (saved.state !== 3) return { openedAt, breakMs, opens: saved.opens };
  const attempt = saved.opens + 1;
  return { openedAt: now, breakMs: openingBreak(breaks, attempt, breakMs, now)[0], opens: attempt };
}

/** Adds the detector's rates at `now` to `stats`, where the detector has them; returns `stats`. */
export function withRates(
  stats: CircuitBreakerStats,
  detector: FailureDetector,
  now: number,
): CircuitBreakerStats {
  const failureRate = detector.failureRate(now);
  if (failureRate !== undefined) stats.failureRate = failureRate;
  const slowCallRate = detector.slowCallRate(now);
  if (slowCallRate !== undefined) stats.slowCallRate = slowCallRate;
  return stats;
}
