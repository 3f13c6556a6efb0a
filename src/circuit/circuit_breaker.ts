/**
 * The circuit breaker state machine. Deciding when a closed circuit should
 * open is delegated to a {@link FailureDetector}; options are checked in
 * `options.ts`, `execute()` calls run through `execute.ts` and snapshots are
 * read in `snapshot.ts`. This file only moves between states.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";
import type { CircuitState, EventSink } from "../core/events.ts";
import { createDetector } from "./detector.ts";
import type { FailureDetector } from "./failure_detector.ts";
import {
  type BreakSettings,
  type CircuitBreakerOptions,
  circuitOptions,
  openingBreak,
  openRemaining,
} from "./options.ts";
import {
  type BreakerCallContext,
  callSignal,
  type CircuitExecuteOptions,
  openError,
  settle,
} from "./execute.ts";
import {
  CIRCUIT_STATES as STATES,
  type CircuitBreakerSnapshot,
  type CircuitBreakerStats,
  readSnapshot,
  restoredRun,
  withRates,
} from "./snapshot.ts";
import { type CircuitFleet, circuitFleet } from "../fleet/circuit_link.ts";
import type { FleetHandle } from "../fleet/options.ts";

export type { CircuitBreakerOptions, CircuitCommonOptions } from "./options.ts";
export type { BreakerCallContext, CircuitExecuteOptions } from "./execute.ts";
export type { CircuitBreakerSnapshot, CircuitBreakerStats } from "./snapshot.ts";

/** Ends an isolation started by {@link CircuitBreaker.isolate}. */
export interface IsolationHandle {
  /** Releases this hold; idempotent. The circuit closes when the last hold is released. */
  release(): void;
  /** Same as {@link IsolationHandle.release}, for `using`. */
  [Symbol.dispose](): void;
}

const CLOSED = 0;
const OPEN = 1;
const HALF_OPEN = 2;
const ISOLATED = 3;

/**
 * A circuit breaker: stops calling a failing dependency for a while, then
 * lets a few probe calls through to see whether it has recovered.
 *
 * States and transitions (each emits one `circuit_transition` event):
 *
 * - `closed`: every call is admitted and its outcome fed to the detector;
 *   when the detector trips, -> `open` (reason `"failure_threshold"` or
 *   `"slow_call_threshold"`).
 * - `open`: calls are rejected until the break (`breakMs`) has elapsed.
 *   There is no timer: the first `allowCall()` after the break moves the
 *   circuit -> `half_open` (`"break_elapsed"`) and is admitted as a probe.
 *   Until then `state` still reads `"open"`.
 * - `half_open`: up to `halfOpenMaxCalls` probes are admitted (a released
 *   probe frees its slot), others rejected. When that many probes have
 *   succeeded -> `closed` (`"probe_success"`); a failed probe -> `open`
 *   (`"probe_failure"`) with the next, possibly longer, break; with
 *   slow-call detection, once `slowProbes / halfOpenMaxCalls >=
 *   slowCallRatio` -> `open` (`"slow_call_threshold"`).
 * - `isolated` (from any state, `isolate()`): every call is rejected until
 *   every handle is released -> `closed` (`"release"`).
 * - `reset()` -> `closed` from any other state (`"reset"`).
 *
 * Outcomes are attributed by the state at the moment they are recorded: in
 * `half_open` a success or failure settles one probe if any is in flight
 * (otherwise it is a late result of a call admitted earlier and is only
 * counted in `stats()`); in `open` and `isolated` outcomes are only
 * counted. The detector is cleared on every transition.
 *
 * In the closed state only the `time` detector makes calls read the clock.
 *
 * @example Trip, reject, probe, recover, isolate
 * ```ts
 * import { CircuitBreaker, CircuitOpenError } from "@bulwark/bulwark";
 * import { VirtualClock } from "@bulwark/bulwark/testing";
 * import assert from "node:assert/strict";
 *
 * const clock = new VirtualClock();
 * const breaker = new CircuitBreaker({ kind: "consecutive", threshold: 2, breakMs: 1_000, clock });
 * const fail = () => Promise.reject(new Error("down"));
 * await assert.rejects(breaker.execute(fail), /down/);
 * await assert.rejects(breaker.execute(fail), /down/);
 * assert.equal(breaker.state, "open");
 * await assert.rejects(
 *   breaker.execute(() => "never runs"),
 *   (e) => e instanceof CircuitOpenError && e.retryAfterMs === 1_000,
 * );
 * await clock.advance(1_000);
 * assert.equal(await breaker.execute(() => "ok"), "ok"); // the probe
 * assert.equal(breaker.state, "closed");
 * {
 *   using _hold = breaker.isolate(); // every call is refused until released
 *   assert.equal(breaker.allowCall(), false);
 * }
 * assert.equal(breaker.state, "closed");
 * ```
 */
export class CircuitBreaker {
  // Field order is memory layout: what allowCall() and recordSuccess() read
  // in the closed state comes first (one cache line per call).
  #state = CLOSED;
  #successes = 0;
  #idle = false; // the detector saw a success last; another changes nothing (idleAfterSuccess)
  /** Infinity when slow-call detection is off. */
  readonly #slowCallMs: number;
  readonly #detector: FailureDetector;
  readonly #needsTime: boolean;
  /** Name used in events and errors. */
  readonly name: string;
  /**
   * Where the breaker reports `circuit_transition` and `circuit_rejected`
   * events; attach listeners with `events.add(listener)`.
   */
  readonly events: EventSink;
  readonly #clock: Clock;
  /** `breakMs` (fixed or a strategy) and the random source a strategy gets. */
  readonly #breaks: BreakSettings;
  readonly #slowCallRatio: number;
  readonly #fleet: CircuitFleet;
  /** Probe slots of this half-open: `halfOpenMaxCalls`, or in a fleet the leases claimed (0: reject). */
  #slots = 1;

  #openedAt = 0;
  /** Break of the current opening; NaN before the first. */
  #breakMs = NaN;
  #opens = 0;
  #probes = 0;
  #probeSuccesses = 0;
  #slowProbes = 0;
  #holds = 0;
  #isolation = 0;
  #lastRetryAfterMs = 0;
  #failures = 0;
  #rejections = 0;
  #slowCalls = 0;

  /**
   * Validates every option: a `TypeError` or `RangeError` whose message
   * starts with the option's name (`threshold must be ...`), and a
   * `TypeError` for unknown keys.
   */
  constructor(options: CircuitBreakerOptions) {
    const o = circuitOptions(options);
    this.name = o.name;
    this.#breaks = o;
    this.#slowCallMs = o.slowCallMs;
    this.#slowCallRatio = o.slowCallRatio;
    this.#clock = o.clock;
    this.events = o.events;
    this.#fleet = circuitFleet(options.fleet, o, (...s) => this.#adopt(...s));
    this.#detector = this.#fleet.detector(createDetector(options, options.slowCallRatio));
    this.#needsTime = this.#detector.needsTime;
    if (options.initialState !== undefined) this.#restore(options.initialState);
  }

  /** The current state. An elapsed `open` circuit reads `"open"` until the next `allowCall()`. */
  get state(): CircuitState {
    return STATES[this.#state];
  }

  /** The fleet handle (`sync()`, `close()`) of a breaker with a `fleet` option; does nothing otherwise. */
  get fleet(): FleetHandle {
    return this.#fleet.handle;
  }

  /** `slowCallMs`, or `undefined` when slow-call detection is off (callers need not time calls). */
  get slowCallMs(): number | undefined {
    return this.#slowCallMs === Infinity ? undefined : this.#slowCallMs;
  }

  /**
   * Milliseconds until a call would be admitted: 0 when closed, or half-open
   * with a free probe slot, or open with the break elapsed (in a fleet: and
   * a lease held); the rest of the break (or the lease wait) when open; the
   * current break when half-open with every probe slot taken; `Infinity`
   * while isolated.
   */
  get retryAfterMs(): number {
    switch (this.#state) {
      case CLOSED:
        return 0;
      case OPEN: // at most breakMs (a clock stepped back); then a fleet's lease wait
        return openRemaining(this.#openedAt, this.#breakMs, this.#clock.now()) ||
          this.#fleet.wait();
      case HALF_OPEN:
        return this.#probes + this.#probeSuccesses < this.#slots ? 0 : this.#breakMs;
      default:
        return Infinity;
    }
  }

  /**
   * Asks to make a call. Returns true when it is admitted (reserving a probe
   * slot when half-open, after moving an elapsed open circuit to half-open);
   * otherwise emits `circuit_rejected` and returns false. An admitted call
   * must end with {@link recordSuccess}, {@link recordFailure} or
   * {@link releaseCall}.
   */
  allowCall(): boolean {
    const state = this.#state;
    if (state === CLOSED) return true;
    if (state === HALF_OPEN) {
      if (this.#probes + this.#probeSuccesses < this.#slots) {
        this.#probes++;
        return true;
      }
      return this.#reject(this.#breakMs, undefined);
    }
    if (state === OPEN) {
      const now = this.#clock.now();
      if (now < this.#openedAt) this.#openedAt = now; // a clock stepped back: restart the break
      if (now - this.#openedAt >= this.#breakMs) {
        const slots = this.#fleet.claim();
        if (slots === 0) return this.#reject(this.#fleet.waitMs, now);
        this.#slots = slots;
        this.#enter(HALF_OPEN, "break_elapsed", now); // admits this call as the first probe
        return true;
      }
      return this.#reject(this.#openedAt + this.#breakMs - now, now);
    }
    return this.#reject(Infinity, undefined);
  }

  /**
   * Records a successful call that took `durationMs` (used only for
   * slow-call detection; without it the call is not slow).
   */
  recordSuccess(durationMs?: number): void {
    this.#successes++;
    const slow = durationMs !== undefined && durationMs > this.#slowCallMs;
    if (slow) this.#slowCalls++;
    const state = this.#state;
    if (state === CLOSED) {
      if (this.#idle) return;
      const detector = this.#detector;
      const now = this.#needsTime ? this.#clock.now() : 0;
      detector.record(false, now, slow);
      const reason = detector.tripReason(now);
      if (reason !== undefined) this.#open(reason);
      else this.#idle = detector.idleAfterSuccess === true;
    } else if (state === HALF_OPEN && this.#probes > 0) {
      this.#probes--;
      this.#probeSuccesses++;
      if (slow && ++this.#slowProbes / this.#slots >= this.#slowCallRatio) {
        this.#open("slow_call_threshold");
      } else if (this.#probeSuccesses >= this.#slots) {
        this.#enter(CLOSED, "probe_success", undefined);
      }
    }
  }

  /**
   * Records a failed call. `durationMs` is accepted for symmetry and
   * ignored: a slow failure is a failure, not a slow call.
   */
  recordFailure(_durationMs?: number): void {
    this.#failures++;
    this.#idle = false;
    const state = this.#state;
    if (state === CLOSED) {
      const detector = this.#detector;
      const now = this.#needsTime ? this.#clock.now() : 0;
      detector.record(true, now);
      const reason = detector.tripReason(now);
      if (reason !== undefined) this.#open(reason);
    } else if (state === HALF_OPEN && this.#probes > 0) {
      this.#probes--;
      this.#open("probe_failure");
    }
  }

  /** An admitted call ended without an outcome (an abort, a caller's error): frees its probe slot. */
  releaseCall(): void {
    if (this.#state === HALF_OPEN && this.#probes > 0) this.#probes--;
  }

  /**
   * Runs `fn` if admitted and records its outcome: a value (or resolved promise) is a success, a
   * throw (or rejection) a failure, rethrown unchanged. `fn` gets a {@link BreakerCallContext}
   * whose `signal` is `options.signal` (else one that never aborts); if that signal aborted by the
   * time `fn` throws, the call is released, not counted. Refused: rejects with `CircuitOpenError`
   * (`retryAfterMs`, `policy` = the breaker's name) without calling `fn`. The duration is measured
   * on the clock only with slow-call detection.
   */
  execute<T>(
    fn: (context: BreakerCallContext) => Promise<T> | T,
    options: CircuitExecuteOptions = {},
  ): Promise<T> {
    let signal: AbortSignal | undefined;
    try {
      signal = callSignal(fn, options);
      // (A broken clock read by allowCall() rejects the call, never throws.)
      if (!this.allowCall()) {
        return Promise.reject(openError(this.name, this.state, this.#lastRetryAfterMs));
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return settle(this, fn, signal, this.#slowCallMs === Infinity ? undefined : this.#clock);
  }

  /** Current counters. Totals are never reset, not even by {@link reset}. */
  stats(): CircuitBreakerStats {
    const stats: CircuitBreakerStats = {
      state: STATES[this.#state],
      consecutiveOpens: this.#opens,
      probesInFlight: this.#probes,
      successes: this.#successes,
      failures: this.#failures,
      rejections: this.#rejections,
      slowCalls: this.#slowCalls,
    };
    return withRates(stats, this.#detector, this.#needsTime ? this.#clock.now() : 0);
  }

  /**
   * Closes the circuit from any state (`"reset"`) and clears the detector;
   * outstanding isolation handles become no-ops. Emits nothing when the
   * circuit is already closed.
   */
  reset(): void {
    if (this.#state === CLOSED) this.#detector.reset();
    else this.#enter(CLOSED, "reset", undefined);
  }

  /**
   * Holds the circuit isolated (every call rejected, `retryAfterMs`
   * Infinity) until every handle returned so far is released; then it
   * closes (`"release"`). Isolating an isolated circuit adds a hold without
   * a new event. Works with `using` (see the class example).
   */
  isolate(): IsolationHandle {
    if (this.#state !== ISOLATED) this.#enter(ISOLATED, "isolate", undefined);
    this.#holds++;
    const isolation = this.#isolation;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      if (isolation !== this.#isolation || this.#state !== ISOLATED) return;
      if (--this.#holds === 0) this.#enter(CLOSED, "release", undefined);
    };
    return { release, [Symbol.dispose]: release };
  }

  /**
   * A plain-JSON snapshot for {@link CircuitCommonOptions.initialState}:
   * `{ state, openedAt, breakMs, opens, detector }`. Probes in flight,
   * isolation handles and the counters of {@link stats} are not included.
   */
  toJSON(): CircuitBreakerSnapshot {
    const inRun = this.#opens > 0;
    return {
      state: STATES[this.#state],
      openedAt: inRun ? this.#openedAt : null,
      breakMs: inRun ? this.#breakMs : null,
      opens: this.#opens,
      detector: this.#detector.toJSON(),
    };
  }

  #reject(retryAfterMs: number, now: number | undefined): false {
    this.#rejections++;
    this.#lastRetryAfterMs = retryAfterMs;
    if (this.events.active) {
      this.events.emit({
        type: "circuit_rejected",
        policy: this.name,
        timestamp: now ?? this.#clock.now(),
        state: STATES[this.#state],
        retryAfterMs,
      });
    }
    return false;
  }

  /** Opens the circuit (from closed or half-open) with the next break. */
  #open(reason: string): void {
    const now = this.#clock.now();
    // A strategy that threw or returned no valid break opens with the fallback break.
    const [breakMs, suffix] = openingBreak(this.#breaks, ++this.#opens, this.#breakMs, now);
    this.#breakMs = breakMs;
    this.#openedAt = now;
    this.#enter(OPEN, reason + suffix, now);
  }

  /** Moves to `to`, clearing per-state bookkeeping, then emits the transition. */
  #enter(to: number, reason: string, now: number | undefined): void {
    const from = this.#state;
    if (from === ISOLATED) {
      this.#isolation++;
      this.#holds = 0;
    }
    this.#state = to;
    // Half-open is entered only by allowCall() admitting the first probe.
    this.#probes = to === HALF_OPEN ? 1 : 0;
    this.#probeSuccesses = 0;
    this.#slowProbes = 0;
    if (to === CLOSED) this.#opens = 0;
    this.#detector.reset();
    this.#fleet.moved(STATES[to], this.#openedAt, this.#breakMs, this.#opens);
    if (this.events.active) {
      this.events.emit({
        type: "circuit_transition",
        policy: this.name,
        timestamp: now ?? this.#clock.now(),
        from: STATES[from],
        to: STATES[to],
        reason,
      });
    }
  }

  #restore(initial: CircuitBreakerSnapshot): void {
    const saved = readSnapshot(initial, "initialState");
    const run = restoredRun(saved, this.#breaks, this.#clock.now());
    if (saved.detector !== undefined) {
      this.#detector.restore(saved.detector, "initialState.detector");
    }
    this.#openedAt = run.openedAt;
    this.#breakMs = run.breakMs;
    this.#opens = run.opens;
    if (saved.state === CLOSED) return;
    this.#detector.reset();
    this.#state = OPEN; // a saved half-open circuit comes back open, its break already elapsed
  }

  /** Takes the fleet's state (see `fleet/circuit_link.ts`); a `"fleet"` transition if it differs. */
  #adopt(state: number, openedAt: number, breakMs: number, opens: number): void {
    this.#openedAt = openedAt;
    this.#breakMs = breakMs;
    this.#opens = opens;
    if (state !== this.#state) this.#enter(state, "fleet", undefined);
  }
}
