/**
 * The deadline-aware retry loop at the heart of every policy.
 *
 * @module
 */

import type { Classifier, ErrorClass } from "../core/error_class.ts";
import { defaultClassifier } from "../classify/default_classifier.ts";
import { retryAfterMs } from "../classify/retry_after.ts";
import {
  type Clock,
  clockOption,
  type TimerId,
  type WheelTimers,
  wheelTimers,
} from "../core/clock.ts";
import {
  AttemptTimeoutError,
  CircuitOpenError,
  DeadlineExceededError,
  FailureBudgetExceededError,
  RetryExhaustedError,
  type RetryExhaustedReason,
} from "../core/errors.ts";
import {
  type EventListener,
  EventSink,
  type GiveUpEvent,
  type ResilienceEvent,
  type RetryBudgetExhaustedEvent,
} from "../core/events.ts";
import type {
  AttemptGate,
  CallObserver,
  CallOutcome,
  CallTracer,
  ConcurrencyGate,
  OutcomeRecorder,
  RetryGate,
} from "./parts.ts";
import { defaultRandom, type RandomSource } from "../core/random.ts";
import {
  functionValue,
  integerAtLeast,
  numberAbove,
  optionalSignal,
  rangeError,
  typeError,
} from "../core/validate.ts";
import {
  type AttemptInfo,
  AttemptRun,
  ClockFirstAttempt,
  FirstAttempt,
  type FirstAttemptShared,
  type Operation,
  OperationContext,
  UntimedContext,
} from "./attempt.ts";
import {
  CLASS_INDEX,
  type ResolvedRetryOptions,
  resolveRetryOptions,
  type RetryOptions,
} from "../retry/retry_options.ts";

/** Options shared by `policy()` and `retry()` that drive the retry loop. */
export interface EngineOptions {
  /** One deadline across all attempts and sleeps, from the start of the call. */
  deadlineMs?: number;
  /** Timeout of each attempt. */
  attemptTimeoutMs?: number;
  /** Maps errors and returned values to classes. Default {@link defaultClassifier}. */
  classify?: Classifier;
  /** Receives every event synchronously; a listener that throws changes nothing. */
  onEvent?: EventListener;
  /** Time source. Default {@link systemClock}. */
  clock?: Clock;
  /** Random numbers in [0, 1) for jitter. Default `Math.random`. */
  random?: RandomSource;
}

/** The parts a policy composes around the retry loop, all optional. */
export interface EngineParts {
  /** Checked before every attempt; fed every attempt's outcome. */
  circuit?: AttemptGate;
  /** Fed every attempt's outcome; with `action: "reject"` fails calls fast while breached. */
  failureBudget?: OutcomeRecorder;
  /** One permit per call, acquired after the deadline starts and before the first attempt. */
  bulkhead?: ConcurrencyGate;
  /** Consulted before every retry. */
  retryBudget?: RetryGate;
  /** Follows calls for telemetry. */
  observer?: CallObserver;
}

/** Per-call options of `execute`. */
export interface ExecuteOptions {
  /** Aborts the call: sleeps, queue waits and the running attempt stop at once. */
  signal?: AbortSignal;
  /**
   * An absolute deadline (clock milliseconds) for this call, e.g. one
   * propagated from an incoming request. The earlier of this and the
   * policy's `deadlineMs` applies.
   */
  deadline?: number;
  /**
   * Caps this call's attempts below the policy's `maxAttempts` (1 = no
   * retry, e.g. for a non-idempotent request). The outcome is still recorded
   * by the circuit and the failure budget.
   */
  maxAttempts?: number;
  /**
   * Receives a failing value an attempt returned that will not be returned
   * to the caller (the policy retries instead, or the deadline ends the
   * call), so its resources can be freed: the HTTP client cancels the body
   * of a 503 it is about to retry. Not called for a value that ends up in
   * `RetryExhaustedError.lastResult` or is returned as a permanent failure.
   */
  discard?: (value: unknown) => void;
}

const GIVE_UP_EVENT: Readonly<
  Record<RetryExhaustedReason, GiveUpEvent["type"] | "retry_budget_exhausted">
> = {
  max_attempts: "max_attempts_exceeded",
  max_unknown_attempts: "max_unknown_attempts_exceeded",
  class_budget: "class_budget_exhausted",
  retry_budget: "retry_budget_exhausted",
};

/** A first attempt that failed (or timed out) on the fast path, handed to the loop. */
interface Resume<T> {
  operation: Operation<T>;
  /** The call's start (clock time); NaN when nothing timed it. */
  start: number;
  /** Which timer ended the attempt (0: none). */
  fired: 0 | 1 | 2;
  threw: boolean;
  value: T | undefined;
  error: unknown;
  /** The classifier's verdict on a returned value (it is not asked twice). */
  verdict: ErrorClass | undefined;
}

const UNKNOWN = CLASS_INDEX.unknown;
const PERMANENT = CLASS_INDEX.permanent;

/**
 * Runs an operation with retries, classification, per-class budgets, backoff,
 * a deadline and per-attempt timeouts. Used by `policy()` and `retry()`.
 *
 * The success path with no deadline, timeout or signal sets no timer and
 * allocates only the attempt's context; the failure path pays for what it
 * uses.
 */
export class Engine {
  // Field order is memory layout: what a fast-path call reads comes first,
  // so that with thousands of live policies a call touches few cache lines.
  /** Calls without options may take the fast path (see {@link Engine.run}). */
  readonly #fastPath: boolean;
  // The parts, as the engine's own fields (not one `parts` object): a call
  // then touches one object less.
  readonly #observer: CallObserver | undefined;
  /** Calls the observer would not trace: the fast path skips asking it. */
  #quietCalls = 0;
  readonly #bulkhead: ConcurrencyGate | undefined;
  readonly #retryBudget: RetryGate | undefined;
  readonly #circuit: AttemptGate | undefined;
  /** The earlier of the deadline and the attempt timeout, in ms. */
  readonly #limitMs: number;
  /** The clock's lazily stamped timers, when its timers run on a wheel. */
  readonly #timers: WheelTimers | undefined;
  /** What the fast path's first attempts share. */
  readonly #shared: FirstAttemptShared;
  readonly #classify: Classifier;
  readonly #budget: OutcomeRecorder | undefined;
  /** The event fan-out; telemetry attaches here. */
  readonly events: EventSink;
  /** The call whose part interaction is in progress (null: one without a tracer). */
  #cause: CallTracer | null | undefined;
  /** Name reported in events and errors. */
  readonly name: string;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #deadlineMs: number;
  readonly #attemptTimeoutMs: number;
  readonly #retry: ResolvedRetryOptions;
  /** Releases the bulkhead permit a resumed call took with `tryEnter()`. */
  readonly #heldPermit: { release(): void } | undefined;

  /**
   * Validates everything; `retry` undefined means the defaults (3 attempts).
   * `retryPath` prefixes retry option names in error messages.
   */
  constructor(
    name: string,
    options: EngineOptions,
    retry: RetryOptions | undefined,
    retryPath = "retry",
    parts: EngineParts = {},
  ) {
    this.name = name;
    this.#deadlineMs = options.deadlineMs === undefined
      ? Infinity
      : numberAbove("deadlineMs", options.deadlineMs, 0);
    this.#attemptTimeoutMs = options.attemptTimeoutMs === undefined
      ? Infinity
      : numberAbove("attemptTimeoutMs", options.attemptTimeoutMs, 0);
    this.#classify = options.classify === undefined
      ? defaultClassifier
      : functionValue("classify", options.classify);
    this.#random = options.random === undefined
      ? defaultRandom
      : functionValue("random", options.random);
    this.#clock = clockOption(options.clock ?? undefined, [
      "now",
      "sleep",
      "setTimer",
      "clearTimer",
    ]);
    this.events = new EventSink();
    if (options.onEvent !== undefined) this.events.add(functionValue("onEvent", options.onEvent));
    this.#retry = resolveRetryOptions(retry, retryPath);
    // A breaker that times calls, or a failure budget that rejects calls
    // (it reads the clock up front), takes the general loop.
    this.#timers = wheelTimers(this.#clock);
    this.#circuit = parts.circuit;
    this.#budget = parts.failureBudget;
    this.#bulkhead = parts.bulkhead;
    this.#retryBudget = parts.retryBudget;
    this.#observer = parts.observer;
    this.#limitMs = Math.min(this.#deadlineMs, this.#attemptTimeoutMs);
    this.#shared = {
      deadlineMs: this.#deadlineMs,
      kind: this.#attemptTimeoutMs < this.#deadlineMs ? 2 : 1,
      timers: this.#timers,
      fire: this.#fireFirst,
    };
    const bulkhead = parts.bulkhead;
    this.#heldPermit = bulkhead === undefined ? undefined : { release: () => bulkhead.exit() };
    this.#fastPath = parts.circuit?.slowCallMs === undefined &&
      parts.failureBudget?.action !== "reject";
  }

  /** Builds the abort reason when an attempt's timer fires (1 deadline, 2 attempt timeout). */
  readonly #reasonFor = (run: AttemptInfo, kind: 1 | 2): unknown =>
    kind === 1
      ? this.#deadlineError(run.attempt, run.deadline, run.previousError)
      : new AttemptTimeoutError(
        `${this.#label()} attempt ${run.attempt} timed out after ${this.#attemptTimeoutMs} ms`,
        { policy: this.name, attempt: run.attempt, timeoutMs: this.#attemptTimeoutMs },
      );

  /** The clock the engine reads. */
  get clock(): Clock {
    return this.#clock;
  }

  /**
   * Runs `operation` under the retry loop; see `Policy.execute`.
   *
   * A call without options whose first attempt needs no telemetry and no
   * queueing takes the fast path ({@link Engine.#first}): no async
   * frame, no clock read with the system clock, one promise of its own. Any
   * failure hands the call over to the general loop, which behaves exactly
   * as if it had run the first attempt itself.
   */
  run<T>(operation: Operation<T>, options?: ExecuteOptions): Promise<T> {
    if (options === undefined && this.#fastPath && typeof operation === "function") {
      return this.#first(operation);
    }
    return this.#loop(operation, options, undefined, undefined);
  }

  /** The fast path's start: the parts' checks, then the first attempt. */
  #first<T>(operation: Operation<T>): Promise<T> {
    const observer = this.#observer;
    if (observer !== undefined) {
      if (this.#quietCalls > 0) this.#quietCalls--;
      else {
        // A meter means a tracer (metrics per call); without one, nothing is recorded.
        const tracer = observer.start(this.name, this.#clock, NaN);
        if (tracer !== undefined) return this.#loop(operation, undefined, undefined, tracer);
        // A meter whose tracer failed: the general loop still records the parts.
        if (observer.recordsParts) return this.#loop(operation, undefined, undefined, undefined);
        this.#quietCalls = observer.takeQuietCalls();
      }
    }
    const bulkhead = this.#bulkhead;
    // No free permit: the call queues, in the general loop.
    if (bulkhead !== undefined && !bulkhead.tryEnter()) {
      return this.#loop(operation, undefined, undefined, undefined);
    }
    const circuit = this.#circuit;
    try {
      this.#retryBudget?.recordRequest();
      if (circuit !== undefined && !this.#allow(circuit, undefined)) {
        bulkhead?.exit();
        return Promise.reject(this.#circuitOpen(circuit, undefined));
      }
    } catch (error) {
      // A broken clock or part: the call fails as the general loop would fail it.
      bulkhead?.exit();
      return Promise.reject(error);
    }
    const limitMs = this.#limitMs;
    if (limitMs === Infinity) {
      // Nothing can end the attempt early: chain onto its promise.
      const context = new UntimedContext();
      try {
        const result = operation(context);
        return (result instanceof Promise ? result : Promise.resolve(result)).then(
          (value: T) => this.#firstSettled(operation, NaN, false, value, undefined),
          (error: unknown) => this.#firstSettled(operation, NaN, true, undefined, error),
        );
      } catch (error) {
        return this.#resume(operation, NaN, 0, true, undefined, error, undefined);
      }
    }
    let first: FirstAttempt<T>;
    const timers = this.#timers;
    if (timers !== undefined) {
      first = new FirstAttempt(operation, this.#shared);
      timers.schedule(first, limitMs);
    } else {
      const timed = new ClockFirstAttempt(operation, this.#shared);
      try {
        const clock = this.#clock;
        const start = clock.now();
        timed.start = start;
        const fire = () => timed.callback();
        timed.timer = clock.setTimerAt === undefined
          ? clock.setTimer(fire, limitMs)
          : clock.setTimerAt(fire, start + limitMs);
      } catch (error) {
        if (circuit !== undefined) this.#record(undefined, circuit, undefined, 0, 0);
        bulkhead?.exit();
        return Promise.reject(error);
      }
      first = timed;
    }
    // (An executor closure measured faster than one shared executor that
    // hands the resolvers over through module variables.)
    const promise = new Promise<T>((resolve, reject) => {
      first.resolve = resolve;
      first.reject = reject;
    });
    try {
      const result = operation(new OperationContext(1, first));
      (result instanceof Promise ? result : Promise.resolve(result)).then(
        (value: T) => this.#settleFirst(first, false, value, undefined),
        (error: unknown) => this.#settleFirst(first, true, undefined, error),
      );
    } catch (error) {
      this.#settleFirst(first, true, undefined, error);
    }
    return promise;
  }

  /** The first attempt's timer fired before it settled. */
  readonly #fireFirst = (first: FirstAttempt<unknown>): void => {
    if (first.settled) return;
    first.settled = true;
    const kind = first.shared.kind;
    first.fired = kind;
    const reason = this.#reasonFor(first, kind);
    first.abort(reason);
    // The general loop continues after the timer's tick, as its own timers'
    // aborts do, rather than running the next attempt inside it.
    first.resolve!(
      Promise.resolve().then(() =>
        this.#resume(first.operation, first.callStart(), kind, true, undefined, reason, undefined)
      ),
    );
  };

  /** Settles the call's own promise (the fast path with a timer) with the attempt's outcome. */
  #settleFirst<T>(first: FirstAttempt<T>, threw: boolean, value: T | undefined, error: unknown) {
    if (first.settled) return; // the timer fired first; this outcome is late
    first.settled = true;
    const timers = this.#timers;
    if (timers !== undefined) timers.cancel(first);
    else this.#clock.clearTimer((first as ClockFirstAttempt<T>).timer!);
    try {
      first.resolve!(this.#firstSettled(first.operation, first, threw, value, error));
    } catch (error) {
      first.reject!(error);
    }
  }

  /**
   * The first attempt settled: a success ends the call here (returning its
   * value); anything else continues in the general loop (a promise).
   * `timed` is the attempt's timed state, or NaN for an untimed attempt.
   */
  #firstSettled<T>(
    operation: Operation<T>,
    timed: FirstAttempt<T> | number,
    threw: boolean,
    value: T | undefined,
    error: unknown,
  ): T | Promise<T> {
    let verdict: ErrorClass | "success" | undefined;
    if (!threw) {
      const circuit = this.#circuit;
      try {
        verdict = this.#classify(value);
      } catch (classifierError) {
        if (circuit !== undefined) this.#record(undefined, circuit, undefined, 0, 0);
        this.#bulkhead?.exit();
        throw classifierError;
      }
      if (verdict === "success") {
        const budget = this.#budget;
        if (circuit !== undefined || budget !== undefined) {
          // The budget's buckets are far wider than a tick: the start already
          // read, or else the wheel's latest reading, stamps the sample (a
          // wheel's stamp is in wheel time).
          let at = typeof timed === "number" ? NaN : timed.start;
          const timers = this.#timers;
          if (timers !== undefined) at = at === at ? at + timers.origin : timers.coarseNow();
          this.#record(undefined, circuit, budget, 1, 0, at);
        }
        if (this.events.active) {
          this.#emit(undefined, {
            type: "success",
            policy: this.name,
            timestamp: this.#clock.now(),
            attempt: 1,
          });
        }
        this.#bulkhead?.exit();
        return value as T;
      }
    }
    const failed = verdict as ErrorClass | undefined; // not "success": that returned above
    return typeof timed === "number"
      ? this.#resume(operation, NaN, 0, threw, value, error, failed)
      : this.#resume(operation, timed.callStart(), timed.fired, threw, value, error, failed);
  }

  /** Hands a call whose first attempt did not succeed over to the general loop. */
  #resume<T>(
    operation: Operation<T>,
    start: number,
    fired: 0 | 1 | 2,
    threw: boolean,
    value: T | undefined,
    error: unknown,
    verdict: ErrorClass | undefined,
  ): Promise<T> {
    return this.#loop(
      operation,
      undefined,
      { operation, start, fired, threw, value, error, verdict },
      undefined,
    );
  }

  #circuitOpen(circuit: AttemptGate, lastError: unknown): CircuitOpenError {
    return new CircuitOpenError(
      `${this.#label()} rejected the call: circuit "${circuit.name}" is open`,
      { policy: this.name, retryAfterMs: circuit.retryAfterMs, cause: lastError },
    );
  }

  /** The general retry loop; `resume` carries a first attempt the fast path ran. */
  async #loop<T>(
    operation: Operation<T>,
    options: ExecuteOptions | undefined,
    resume: Resume<T> | undefined,
    startedTracer: CallTracer | undefined,
  ): Promise<T> {
    if (typeof operation !== "function") typeError("fn", "a function", operation);
    const signal = options === undefined ? undefined : optionalSignal("signal", options.signal);
    if (signal?.aborted) throw signal.reason;
    const clock = this.#clock;
    const retry = this.#retry;
    const circuit = this.#circuit;
    const failureBudget = this.#budget;
    const observer = this.#observer;
    // The call's start time; attempt 1 reuses it rather than reading the clock again.
    let callStart = resume !== undefined
      ? resume.start
      : startedTracer !== undefined
      ? startedTracer.startTime
      : this.#deadlineMs === Infinity
      ? NaN
      : clock.now();
    let deadline = this.#deadlineMs === Infinity ? Infinity : callStart + this.#deadlineMs;
    if (options?.deadline !== undefined) {
      if (typeof options.deadline !== "number" || Number.isNaN(options.deadline)) {
        typeError("deadline", "a number (clock milliseconds)", options.deadline);
      }
      if (options.deadline < deadline) deadline = options.deadline;
    }
    let maxAttempts = retry.maxAttempts;
    if (options?.maxAttempts !== undefined) {
      maxAttempts = Math.min(maxAttempts, integerAtLeast("maxAttempts", options.maxAttempts, 1));
    }
    if (options?.discard !== undefined) functionValue("discard", options.discard);
    const tracer = startedTracer ??
      (resume === undefined ? observer?.start(this.name, clock, callStart) : undefined);
    // A tracer that read the clock gives attempt 1 its start.
    if (tracer !== undefined && callStart !== callStart) callStart = tracer.startTime;
    // Read the clock per attempt only when something needs the time: the
    // start for a deadline, a timeout or a trace; the end for a trace or a
    // breaker that detects slow calls.
    const timedEnd = tracer !== undefined || circuit?.slowCallMs !== undefined;
    const timed = timedEnd || deadline !== Infinity || this.#attemptTimeoutMs !== Infinity;

    let current: AttemptRun | undefined;
    const onAbort = signal === undefined ? undefined : () => current?.abort(signal.reason);
    if (onAbort !== undefined) signal!.addEventListener("abort", onAbort, { once: true });

    let outcome: CallOutcome = "success";
    let attempts = 0;
    // A resumed call holds the permit the fast path took.
    let permit = resume !== undefined ? this.#heldPermit : undefined;
    let failures: number[] | undefined;
    let lastError: unknown;
    let lastClass: ErrorClass | undefined;
    let prevDelayMs: number | undefined;
    try {
      // A resumed call already passed these checks on the fast path.
      if (
        resume === undefined && failureBudget?.action === "reject" &&
        this.#breached(failureBudget, tracer)
      ) {
        outcome = "failure_budget_exceeded";
        throw new FailureBudgetExceededError(
          `${this.#label()} rejected the call: failure budget "${failureBudget.name}" is breached`,
          { policy: this.name },
        );
      }
      if (resume === undefined) {
        const bulkhead = this.#bulkhead;
        if (bulkhead !== undefined) {
          // Occupancy metrics, only when a meter records them.
          const partsObserver = observer?.recordsParts ? observer : undefined;
          permit = bulkhead.tryAcquire();
          if (permit !== undefined) {
            partsObserver?.bulkheadChange(bulkhead.name, 1, 0);
          } else {
            partsObserver?.bulkheadChange(bulkhead.name, 0, 1);
            try {
              permit = await this.#waitForPermit(bulkhead, signal, deadline, tracer);
              callStart = NaN; // time passed in the queue: attempt 1 reads the clock
              partsObserver?.bulkheadChange(bulkhead.name, 1, -1);
            } catch (error) {
              partsObserver?.bulkheadChange(bulkhead.name, 0, -1);
              if (signal?.aborted) {
                outcome = "cancelled";
              } else if (error instanceof DeadlineExceededError) {
                outcome = "deadline_exceeded";
                throw this.#deadlineExceeded(
                  tracer,
                  0,
                  deadline,
                  undefined,
                  undefined,
                  clock.now(),
                );
              } else {
                outcome = "bulkhead_rejected";
              }
              throw error;
            }
          }
        }
        this.#retryBudget?.recordRequest();
      }

      for (let attempt = 1;; attempt++) {
        // The caller may have aborted while no attempt was running (in the
        // bulkhead's hand-over, or as a backoff sleep ended): stop here.
        if (signal?.aborted) {
          outcome = "cancelled";
          throw signal.reason;
        }
        let startedAt = 0;
        let value!: T;
        let error: unknown;
        let threw = false;
        let fired: 0 | 1 | 2 = 0;
        if (resume !== undefined && attempt === 1) {
          // The fast path ran this attempt (the circuit admitted it).
          if (timed) startedAt = callStart;
          attempts = 1;
          threw = resume.threw;
          value = resume.value as T;
          error = resume.error;
          fired = resume.fired;
        } else {
          if (timed) {
            startedAt = attempt === 1 && !Number.isNaN(callStart) ? callStart : clock.now();
          }
          if (startedAt >= deadline) {
            outcome = "deadline_exceeded";
            throw this.#deadlineExceeded(
              tracer,
              attempt - 1,
              deadline,
              lastError,
              lastClass,
              startedAt,
            );
          }
          if (circuit !== undefined && !this.#allow(circuit, tracer)) {
            outcome = "circuit_open";
            throw this.#circuitOpen(circuit, lastError);
          }
          attempts = attempt;
          tracer?.attemptStart(attempt, startedAt);
          const run = new AttemptRun(attempt, deadline);
          const invoke: Operation<T> = tracer === undefined || !tracer.wrapsAttempts
            ? operation
            : (ctx) => tracer.runAttempt(() => operation(ctx));
          const limitAt = Math.min(deadline, startedAt + this.#attemptTimeoutMs);
          if (limitAt === Infinity && signal === undefined) {
            try {
              value = await invoke(new OperationContext(attempt, run));
            } catch (e) {
              threw = true;
              error = e;
            }
          } else {
            if (limitAt !== Infinity) {
              run.previousError = lastError;
              run.arm(clock, startedAt, limitAt, limitAt >= deadline ? 1 : 2, this.#reasonFor);
            }
            current = run;
            try {
              value = await run.settle(invoke);
            } catch (e) {
              threw = true;
              error = e;
            } finally {
              run.disarm();
              current = undefined;
            }
            fired = run.fired;
          }
        }
        if (threw) {
          if (signal?.aborted) {
            if (circuit !== undefined) this.#record(tracer, circuit, undefined, 0, 0);
            tracer?.attemptEnd(attempt, clock.now(), "unknown", signal.reason);
            outcome = "cancelled";
            throw signal.reason;
          }
          if (fired === 1) {
            const now = clock.now();
            tracer?.attemptEnd(attempt, now, "transient", error);
            this.#record(tracer, circuit, failureBudget, 2, now - startedAt, now);
            if (this.events.active || tracer !== undefined) {
              this.#emit(tracer, {
                type: "deadline_exceeded",
                policy: this.name,
                timestamp: now,
                attempt,
                ...(lastClass === undefined ? {} : { errorClass: lastClass, error: lastError }),
              });
            }
            outcome = "deadline_exceeded";
            throw error;
          }
          if (fired === 2 && (this.events.active || tracer !== undefined)) {
            this.#emit(tracer, {
              type: "attempt_timeout",
              policy: this.name,
              timestamp: clock.now(),
              attempt,
              timeoutMs: this.#attemptTimeoutMs,
            });
          }
        }

        const endedAt = timedEnd ? clock.now() : 0;
        const durationMs = timedEnd ? endedAt - startedAt : 0;
        const sampleAt = timedEnd ? endedAt : timed ? startedAt : NaN;
        let verdict: ErrorClass | "success";
        try {
          // A value the fast path already classified is not classified again.
          verdict = attempt === 1 && resume?.verdict !== undefined
            ? resume.verdict
            : this.#classify(threw ? error : value);
        } catch (classifierError) {
          // A classifier bug ends the call with its error; the attempt's
          // half-open probe (if any) must not stay reserved.
          if (circuit !== undefined) this.#record(tracer, circuit, undefined, 0, 0);
          outcome = "permanent_fail";
          throw classifierError;
        }
        if (threw) {
          if (verdict === "success") verdict = "unknown";
        } else {
          if (verdict === "success") {
            if (tracer !== undefined) tracer.attemptEnd(attempt, endedAt, undefined, undefined);
            if (circuit !== undefined || failureBudget !== undefined) {
              this.#record(tracer, circuit, failureBudget, 1, durationMs, sampleAt);
            }
            if (this.events.active || tracer !== undefined) {
              this.#emit(tracer, {
                type: "success",
                policy: this.name,
                timestamp: timedEnd ? endedAt : clock.now(),
                attempt,
              });
            }
            tracer?.end(endedAt, "success", attempt, undefined);
            return value;
          }
          error = value;
        }

        // The attempt failed: record it, then decide whether and when to try again.
        const cls = verdict;
        const index = CLASS_INDEX[cls];
        tracer?.attemptEnd(attempt, endedAt, cls, error);
        if (circuit !== undefined || failureBudget !== undefined) {
          // A permanent failure is the caller's problem, not the dependency's:
          // it counts against neither the breaker nor the failure budget.
          this.#record(
            tracer,
            circuit,
            index === PERMANENT ? undefined : failureBudget,
            index === PERMANENT ? 0 : 2,
            durationMs,
            sampleAt,
          );
        }
        failures ??= [0, 0, 0, 0, 0, 0, 0];
        const count = ++failures[index];
        lastError = error;
        lastClass = cls;
        const now = clock.now();
        if (index === PERMANENT && count > retry.budgets[PERMANENT]) {
          if (this.events.active || tracer !== undefined) {
            this.#emit(tracer, {
              type: "permanent_fail",
              policy: this.name,
              timestamp: now,
              attempt,
              errorClass: cls,
              error,
            });
          }
          outcome = "permanent_fail";
          if (threw) throw error;
          tracer?.end(now, "permanent_fail", attempt, undefined);
          return value;
        }
        let reason: RetryExhaustedReason | undefined;
        if (count > retry.budgets[index]) reason = "class_budget";
        else if (index === UNKNOWN && count >= retry.maxUnknownAttempts) {
          reason = "max_unknown_attempts";
        } else if (attempt >= maxAttempts) reason = "max_attempts";
        let delayMs: number | undefined;
        if (reason === undefined) {
          delayMs = retry.honorRetryAfter ? retryAfterMs(error, now) : undefined;
          if (delayMs !== undefined && delayMs > retry.maxRetryAfterMs) {
            delayMs = retry.maxRetryAfterMs;
          }
          if (delayMs === undefined) {
            delayMs = retry.backoffs[index]({
              attempt,
              prevDelayMs,
              errorClass: cls,
              random: this.#random,
              now,
            });
            if (typeof delayMs !== "number" || !(delayMs >= 0)) {
              rangeError(`${this.#label()} backoff result`, "a number >= 0", delayMs);
            }
          }
          if (now + delayMs >= deadline) {
            outcome = "deadline_exceeded";
            if (!threw) options?.discard?.(value);
            throw this.#deadlineExceeded(tracer, attempt, deadline, error, cls, now, delayMs);
          }
          const retryBudget = this.#retryBudget;
          if (retryBudget !== undefined && !retryBudget.tryRetry()) {
            reason = "retry_budget";
          }
        }
        if (reason !== undefined) {
          const type = GIVE_UP_EVENT[reason];
          if (this.events.active || tracer !== undefined) {
            this.#emit(
              tracer,
              {
                type,
                policy: this.name,
                timestamp: now,
                attempt,
                errorClass: cls,
                error,
              } as GiveUpEvent | RetryBudgetExhaustedEvent,
            );
          }
          outcome = type;
          throw new RetryExhaustedError(
            `${this.#label()} gave up after ${attempt} attempt${attempt === 1 ? "" : "s"} (${
              describeReason(reason, cls, retry)
            })`,
            {
              policy: this.name,
              cause: error,
              attempts: attempt,
              reason,
              ...(threw ? {} : { lastResult: value }),
            },
          );
        }
        if (this.events.active || tracer !== undefined) {
          this.#emit(tracer, {
            type: "retry",
            policy: this.name,
            timestamp: now,
            attempt,
            errorClass: cls,
            error,
            delayMs: delayMs!,
          });
        }
        if (!threw) options?.discard?.(value);
        if (delayMs! > 0) {
          try {
            await clock.sleep(delayMs!, signal);
          } catch (e) {
            outcome = "cancelled";
            throw e;
          }
        }
        prevDelayMs = delayMs;
      }
    } catch (error) {
      tracer?.end(clock.now(), outcome, attempts, error);
      throw error;
    } finally {
      if (permit !== undefined) {
        permit.release();
        if (observer?.recordsParts) {
          observer.bulkheadChange(this.#bulkhead!.name, -1, 0);
        }
      }
      if (onAbort !== undefined) signal!.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Waits in the bulkhead's queue. With a deadline, the wait is bounded by
   * aborting it at the deadline (rather than passing a shorter queue
   * timeout), so the call ends as `deadline_exceeded` and the bulkhead does
   * not also report a queue timeout. Only queued calls pay for the timer.
   */
  async #waitForPermit(
    bulkhead: ConcurrencyGate,
    signal: AbortSignal | undefined,
    deadline: number,
    tracer: CallTracer | undefined,
  ): Promise<{ release(): void }> {
    const clock = this.#clock;
    let waitSignal = signal;
    let timer: TimerId | undefined;
    if (deadline !== Infinity) {
      const controller = new AbortController();
      const expire = () => controller.abort(this.#deadlineError(0, deadline, undefined));
      timer = clock.setTimerAt === undefined
        ? clock.setTimer(expire, deadline - clock.now())
        : clock.setTimerAt(expire, deadline);
      waitSignal = signal === undefined
        ? controller.signal
        : AbortSignal.any([signal, controller.signal]);
    }
    try {
      this.#cause = tracer ?? null;
      const pending = bulkhead.acquire({ signal: waitSignal });
      this.#cause = undefined;
      return await pending;
    } finally {
      this.#cause = undefined;
      if (timer !== undefined) clock.clearTimer(timer);
    }
  }

  /**
   * Forwards an event of a composed part (breaker, budget, bulkhead).
   * Events of a part the policy owns are always forwarded; those of a shared
   * part only when this policy's call caused them, so policies sharing a
   * breaker do not all report each transition.
   */
  forwardPartEvent(event: ResilienceEvent, owned: boolean): void {
    const cause = this.#cause;
    if (cause === undefined && !owned) return;
    if (this.events.active) this.events.emit(event);
    if (cause) cause.event(event);
    else this.#observer?.partEvent(event);
  }

  #allow(circuit: AttemptGate, tracer: CallTracer | undefined): boolean {
    this.#cause = tracer ?? null;
    try {
      return circuit.allowCall();
    } finally {
      this.#cause = undefined;
    }
  }

  #breached(budget: OutcomeRecorder, tracer: CallTracer | undefined): boolean {
    this.#cause = tracer ?? null;
    try {
      return budget.isBreached();
    } finally {
      this.#cause = undefined;
    }
  }

  /**
   * Records an attempt's outcome in the breaker and the failure budget.
   * `outcome`: 0 = no outcome (release the breaker's slot, skip the budget),
   * 1 = success, 2 = failure. `at` stamps the budget's sample: the attempt's
   * end when it was read, else its start (the budget's buckets are far wider
   * than an attempt), else NaN and the budget reads the clock.
   */
  #record(
    tracer: CallTracer | undefined,
    circuit: AttemptGate | undefined,
    budget: OutcomeRecorder | undefined,
    outcome: 0 | 1 | 2,
    durationMs: number,
    at = NaN,
  ): void {
    this.#cause = tracer ?? null;
    try {
      if (circuit !== undefined) {
        if (outcome === 0) circuit.releaseCall();
        else if (outcome === 1) circuit.recordSuccess(durationMs);
        else circuit.recordFailure(durationMs);
      }
      if (budget !== undefined && outcome !== 0) {
        budget.record(outcome === 2, at);
        const observer = this.#observer;
        if (observer?.recordsParts) observer.failureRate(budget.name, budget.failureRate());
      }
    } finally {
      this.#cause = undefined;
    }
  }

  /** Delivers an event to the listeners and to the call's tracer. */
  #emit(tracer: CallTracer | undefined, event: ResilienceEvent): void {
    if (this.events.active) this.events.emit(event);
    tracer?.event(event);
  }

  #label(): string {
    return `policy "${this.name}"`;
  }

  #deadlineError(attempts: number, deadline: number, cause: unknown): DeadlineExceededError {
    return new DeadlineExceededError(
      `${this.#label()} deadline exceeded after ${attempts} attempt${attempts === 1 ? "" : "s"}`,
      { policy: this.name, attempts, deadline, cause },
    );
  }

  /** Emits `deadline_exceeded` and returns the error to throw. */
  #deadlineExceeded(
    tracer: CallTracer | undefined,
    attempts: number,
    deadline: number,
    error: unknown,
    errorClass: ErrorClass | undefined,
    now: number,
    delayMs?: number,
  ): DeadlineExceededError {
    if (this.events.active || tracer !== undefined) {
      this.#emit(tracer, {
        type: "deadline_exceeded",
        policy: this.name,
        timestamp: now,
        attempt: attempts,
        ...(errorClass === undefined ? {} : { errorClass, error }),
        ...(delayMs === undefined ? {} : { delayMs }),
      });
    }
    return this.#deadlineError(attempts, deadline, error);
  }
}

function describeReason(
  reason: RetryExhaustedReason,
  cls: ErrorClass,
  retry: ResolvedRetryOptions,
): string {
  switch (reason) {
    case "class_budget":
      return `class_budget: ${cls} budget of ${retry.budgets[CLASS_INDEX[cls]]} retries used up`;
    case "max_unknown_attempts":
      return `max_unknown_attempts: ${retry.maxUnknownAttempts} attempts ended in unknown errors`;
    case "max_attempts":
      return `max_attempts: ${retry.maxAttempts}`;
    case "retry_budget":
      return "retry_budget: the shared retry budget refused another retry";
  }
}
