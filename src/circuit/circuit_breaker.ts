/**
 * The circuit breaker state machine. Deciding when a closed circuit should
 * open is delegated to a {@link FailureDetector}; this file only moves
 * between states.
 *
 * @module
 */

import type { BackoffStrategy } from "../backoff/strategy.ts";
import { strategyOption } from "../backoff/_options.ts";
import { type Clock, clockOption } from "../core/clock.ts";
import { CircuitOpenError } from "../core/errors.ts";
import { type CircuitState, type EventListener, EventSink } from "../core/events.ts";
import { defaultRandom, type RandomSource } from "../core/random.ts";
import {
  functionValue,
  integerAtLeast,
  knownKeys,
  nameOption,
  numberAtLeast,
  objectValue,
  optionalSignal,
  rangeError,
  typeError,
} from "../core/validate.ts";
import { createDetector, detectorKeys, type DetectorOptions } from "./detector.ts";
import type { DetectorSnapshot, FailureDetector } from "./failure_detector.ts";
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
   * `prevDelayMs` is the previous break of the run. It must return a finite
   * number >= 0. Default 30,000.
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
}

/**
 * Options of {@link CircuitBreaker}: the common options plus one detector,
 * flattened and selected by `kind`. This is also the shape of the `circuit`
 * block of `policy()`.
 */
export type CircuitBreakerOptions = CircuitCommonOptions & DetectorOptions;

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

/** Ends an isolation started by {@link CircuitBreaker.isolate}. */
export interface IsolationHandle {
  /** Releases this hold; idempotent. The circuit closes when the last hold is released. */
  release(): void;
  /** Same as {@link IsolationHandle.release}, for `using`. */
  [Symbol.dispose](): void;
}

/**
 * What {@link CircuitBreaker.execute} passes to the function it runs. It has
 * the `signal` of the context a policy passes to its operation, so one
 * function can run under either.
 *
 * @example Passing the caller's signal on
 * ```ts
 * import { CircuitBreaker, policy } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const controller = new AbortController();
 * // one function for a breaker and a policy: both pass { signal, ... }
 * const load = ({ signal }: { signal: AbortSignal }) => {
 *   assert.equal(signal.aborted, false);
 *   return "loaded";
 * };
 * const breaker = new CircuitBreaker({ kind: "consecutive", threshold: 5 });
 * assert.equal(await breaker.execute(load, { signal: controller.signal }), "loaded");
 * const api = policy("api", { telemetry: false });
 * assert.equal(await api.execute(load, { signal: controller.signal }), "loaded");
 * // without options.signal, a signal that never aborts
 * assert.equal(await breaker.execute(({ signal }) => signal.aborted), false);
 * ```
 */
export interface BreakerCallContext {
  /**
   * The caller's `options.signal`; without one, a signal that never aborts
   * (made on first read). Pass it to `fetch` and friends.
   */
  readonly signal: AbortSignal;
}

/** Options of {@link CircuitBreaker.execute}. */
export interface CircuitExecuteOptions {
  /**
   * Passed to `fn`. If it is already aborted the call is not made; if `fn`
   * throws once it has aborted, the call is released without an outcome.
   */
  signal?: AbortSignal;
}

/** The {@link BreakerCallContext} of one `execute()`: the caller's signal, or one made when read. */
class CallContext implements BreakerCallContext {
  readonly #callerSignal: AbortSignal | undefined;
  #controller: AbortController | undefined;

  constructor(signal: AbortSignal | undefined) {
    this.#callerSignal = signal;
  }

  get signal(): AbortSignal {
    return this.#callerSignal ?? (this.#controller ??= new AbortController()).signal;
  }
}

const CLOSED = 0;
const OPEN = 1;
const HALF_OPEN = 2;
const ISOLATED = 3;
const STATES: readonly CircuitState[] = ["closed", "open", "half_open", "isolated"];

const COMMON_KEYS: readonly string[] = [
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
];

const SNAPSHOT_KEYS: readonly string[] = ["state", "openedAt", "breakMs", "opens", "detector"];

/** Default break, when `breakMs` is not given. */
const DEFAULT_BREAK_MS = 30_000;

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
 * Reading the clock: `allowCall()` and `recordSuccess()` in the closed state
 * read it only for the `time` detector.
 *
 * @example Trip, reject, probe, recover
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
 * ```
 *
 * @example Growing breaks, events and isolation
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
 * {
 *   using _hold = breaker.isolate();
 *   assert.equal(breaker.allowCall(), false);
 * }
 * assert.deepEqual(seen, [
 *   "closed->open", "open->half_open", "half_open->open", "open->isolated", "isolated->closed",
 * ]);
 * ```
 */
export class CircuitBreaker {
  // Field order is memory layout: what allowCall() and recordSuccess() read
  // in the closed state comes first (one cache line per call).
  #state = CLOSED;
  #successes = 0;
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
  readonly #random: RandomSource;
  readonly #fixedBreakMs: number;
  readonly #breakStrategy: BackoffStrategy | undefined;
  readonly #halfOpenMaxCalls: number;
  readonly #slowCallRatio: number;

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
    objectValue("options", options);
    const detectorOptionKeys = detectorKeys(options.kind);
    knownKeys("", options, [...COMMON_KEYS, ...detectorOptionKeys]);

    this.name = nameOption("name", options.name, "circuit");

    const breakMs = options.breakMs;
    const breakRule = "a number > 0 or a backoff strategy";
    if (breakMs === undefined) {
      this.#fixedBreakMs = DEFAULT_BREAK_MS;
    } else if (typeof breakMs === "function") {
      this.#fixedBreakMs = NaN;
      this.#breakStrategy = strategyOption("breakMs", breakMs);
    } else {
      if (typeof breakMs !== "number") typeError("breakMs", breakRule, breakMs);
      if (!(breakMs > 0 && breakMs < Infinity)) rangeError("breakMs", breakRule, breakMs);
      this.#fixedBreakMs = breakMs;
    }

    this.#halfOpenMaxCalls = options.halfOpenMaxCalls === undefined
      ? 1
      : integerAtLeast("halfOpenMaxCalls", options.halfOpenMaxCalls, 1);

    const { slowCallMs, slowCallRatio } = options;
    if (slowCallMs === undefined && slowCallRatio !== undefined) {
      typeError("slowCallMs", "set together with slowCallRatio", slowCallMs);
    }
    if (slowCallMs !== undefined && slowCallRatio === undefined) {
      typeError("slowCallRatio", "set together with slowCallMs", slowCallRatio);
    }
    this.#slowCallMs = slowCallMs === undefined
      ? Infinity
      : numberAtLeast("slowCallMs", slowCallMs, 0);
    this.#slowCallRatio = slowCallRatio === undefined
      ? Infinity
      : ratioOption("slowCallRatio", slowCallRatio);

    const clock = clockOption(options.clock, ["now"], "a Clock (an object with a now() method)");
    this.#clock = clock;
    this.#random = options.random === undefined
      ? defaultRandom
      : functionValue("random", options.random);
    this.events = new EventSink();
    if (options.onEvent !== undefined) this.events.add(functionValue("onEvent", options.onEvent));

    this.#detector = createDetector(options, slowCallRatio);
    this.#needsTime = this.#detector.needsTime;

    if (options.initialState !== undefined) this.#restore(options.initialState);
  }

  /** The current state. An elapsed `open` circuit reads `"open"` until the next `allowCall()`. */
  get state(): CircuitState {
    return STATES[this.#state];
  }

  /** `slowCallMs`, or `undefined` when slow-call detection is off (callers need not time calls). */
  get slowCallMs(): number | undefined {
    return this.#slowCallMs === Infinity ? undefined : this.#slowCallMs;
  }

  /**
   * Milliseconds until a call would be admitted: 0 when closed, or half-open
   * with a free probe slot, or open with the break elapsed; the rest of the
   * break when open; the current break (how long the circuit stays open if
   * a probe fails) when half-open with every probe slot taken; `Infinity`
   * while isolated.
   */
  get retryAfterMs(): number {
    switch (this.#state) {
      case CLOSED:
        return 0;
      case OPEN:
        return Math.max(0, this.#openedAt + this.#breakMs - this.#clock.now());
      case HALF_OPEN:
        return this.#probes + this.#probeSuccesses < this.#halfOpenMaxCalls ? 0 : this.#breakMs;
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
      if (this.#probes + this.#probeSuccesses < this.#halfOpenMaxCalls) {
        this.#probes++;
        return true;
      }
      return this.#reject(this.#breakMs, undefined);
    }
    if (state === OPEN) {
      const now = this.#clock.now();
      if (now - this.#openedAt >= this.#breakMs) {
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
      const detector = this.#detector;
      const now = this.#needsTime ? this.#clock.now() : 0;
      detector.record(false, now, slow);
      const reason = detector.tripReason(now);
      if (reason !== undefined) this.#open(reason);
    } else if (state === HALF_OPEN && this.#probes > 0) {
      this.#probes--;
      this.#probeSuccesses++;
      if (slow && ++this.#slowProbes / this.#halfOpenMaxCalls >= this.#slowCallRatio) {
        this.#open("slow_call_threshold");
      } else if (this.#probeSuccesses >= this.#halfOpenMaxCalls) {
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

  /**
   * An admitted call ended without an outcome (the caller aborted, or the
   * error was not the dependency's fault): frees its half-open probe slot
   * and records nothing.
   */
  releaseCall(): void {
    if (this.#state === HALF_OPEN && this.#probes > 0) this.#probes--;
  }

  /**
   * Runs `fn` if the breaker admits it and records the outcome: a returned
   * value (or resolved promise) is a success, and any thrown error (or
   * rejection) a failure, rethrown unchanged. `fn` receives a
   * {@link BreakerCallContext} whose `signal` is `options.signal` (or, without
   * one, a signal that never aborts). If `options.signal` has aborted by the
   * time `fn` throws, the call is released instead of counted. When the
   * breaker refuses, rejects with `CircuitOpenError` (`retryAfterMs`,
   * `policy` = the breaker's name) without calling `fn`. The duration is
   * measured on the clock only when slow-call detection is on.
   *
   * @example The signal reaches the call
   * ```ts
   * import { CircuitBreaker } from "@bulwark/bulwark";
   * import assert from "node:assert/strict";
   *
   * const breaker = new CircuitBreaker({ kind: "consecutive", threshold: 3 });
   * const controller = new AbortController();
   * const call = breaker.execute(
   *   ({ signal }) =>
   *     new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
   *   { signal: controller.signal },
   * );
   * controller.abort(new Error("caller went away"));
   * await assert.rejects(call, /caller went away/);
   * assert.equal(breaker.stats().failures, 0); // released, not counted
   * ```
   */
  async execute<T>(
    fn: (context: BreakerCallContext) => Promise<T> | T,
    options: CircuitExecuteOptions = {},
  ): Promise<T> {
    functionValue("fn", fn);
    const signal = optionalSignal("signal", objectValue("options", options).signal);
    signal?.throwIfAborted();
    if (!this.allowCall()) {
      const retryAfterMs = this.#lastRetryAfterMs;
      const state = this.state;
      const detail = state === "isolated"
        ? "is isolated"
        : state === "half_open"
        ? `is half_open with every probe slot taken; retry after ${retryAfterMs} ms`
        : `is open; retry after ${retryAfterMs} ms`;
      throw new CircuitOpenError(`circuit "${this.name}" ${detail}`, {
        retryAfterMs,
        policy: this.name,
      });
    }
    const timed = this.#slowCallMs !== Infinity;
    const start = timed ? this.#clock.now() : 0;
    let value: T;
    try {
      value = await fn(new CallContext(signal));
    } catch (error) {
      if (signal?.aborted) this.releaseCall();
      else this.recordFailure(timed ? this.#clock.now() - start : undefined);
      throw error;
    }
    this.recordSuccess(timed ? this.#clock.now() - start : undefined);
    return value;
  }

  /** Current counters. Totals are never reset, not even by {@link reset}. */
  stats(): CircuitBreakerStats {
    const now = this.#needsTime ? this.#clock.now() : 0;
    const stats: CircuitBreakerStats = {
      state: STATES[this.#state],
      consecutiveOpens: this.#opens,
      probesInFlight: this.#probes,
      successes: this.#successes,
      failures: this.#failures,
      rejections: this.#rejections,
      slowCalls: this.#slowCalls,
    };
    const failureRate = this.#detector.failureRate(now);
    if (failureRate !== undefined) stats.failureRate = failureRate;
    const slowCallRate = this.#detector.slowCallRate(now);
    if (slowCallRate !== undefined) stats.slowCallRate = slowCallRate;
    return stats;
  }

  /**
   * Closes the circuit from any state (`"reset"`) and clears the detector;
   * outstanding isolation handles become no-ops. Emits nothing when the
   * circuit is already closed.
   */
  reset(): void {
    if (this.#state === CLOSED) {
      this.#detector.reset();
      return;
    }
    this.#enter(CLOSED, "reset", undefined);
  }

  /**
   * Holds the circuit isolated (every call rejected, `retryAfterMs`
   * Infinity) until every handle returned so far is released; then it
   * closes (`"release"`). Isolating an isolated circuit adds a hold without
   * a new event. Works with `using`.
   */
  isolate(): IsolationHandle {
    if (this.#state !== ISOLATED) {
      this.#enter(ISOLATED, "isolate", undefined);
    }
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
    const attempt = this.#opens + 1;
    const breakMs = this.#nextBreak(attempt, now);
    this.#opens = attempt;
    this.#breakMs = breakMs;
    this.#openedAt = now;
    this.#enter(OPEN, reason, now);
  }

  #nextBreak(attempt: number, now: number): number {
    const strategy = this.#breakStrategy;
    if (strategy === undefined) return this.#fixedBreakMs;
    const ms = strategy({
      attempt,
      prevDelayMs: attempt > 1 ? this.#breakMs : undefined,
      errorClass: "transient",
      random: this.#random,
      now,
    });
    const rule = "a strategy returning a finite number >= 0";
    if (typeof ms !== "number") typeError("breakMs", rule, ms);
    if (!(ms >= 0 && ms < Infinity)) rangeError("breakMs", rule, ms);
    return ms;
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
    const path = "initialState";
    objectValue(path, initial);
    knownKeys(path, initial, SNAPSHOT_KEYS);
    const state = STATES.indexOf(initial.state);
    if (state < 0) {
      typeError(`${path}.state`, '"closed", "open", "half_open" or "isolated"', initial.state);
    }
    const opens = integerAtLeast(
      `${path}.opens`,
      initial.opens,
      state === OPEN || state === HALF_OPEN ? 1 : 0,
    );
    if (opens > 0) {
      const openedAt = initial.openedAt;
      if (typeof openedAt !== "number" || !Number.isFinite(openedAt)) {
        typeError(`${path}.openedAt`, "a finite number", openedAt);
      }
      // An opening "in the future" (a clock that differs from the one that
      // saved it) counts from now, so the break is never longer than breakMs.
      this.#openedAt = Math.min(openedAt, this.#clock.now());
      this.#breakMs = numberAtLeast(`${path}.breakMs`, initial.breakMs, 0);
    }
    if (initial.detector !== undefined && initial.detector !== null) {
      this.#detector.restore(initial.detector, `${path}.detector`);
    }
    if (state === CLOSED) return;
    this.#detector.reset();
    this.#opens = opens;
    if (state === ISOLATED) {
      // Holds do not survive a restart: treat it as an opening right now.
      const now = this.#clock.now();
      const attempt = opens + 1;
      this.#breakMs = this.#nextBreak(attempt, now);
      this.#opens = attempt;
      this.#openedAt = now;
    }
    // A saved half-open circuit comes back open, its break already elapsed.
    this.#state = OPEN;
  }
}
