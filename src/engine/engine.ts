/**
 * The call engine: runs an operation under a policy's deadline, attempt
 * timeout, retries, circuit breaker, failure budget, bulkhead and retry
 * budget, and reports every step.
 *
 * ## How a call flows
 *
 * | phase                                                      | file               |
 * | ---------------------------------------------------------- | ------------------ |
 * | `run()`: options checked, the fast-path rule               | `engine.ts`        |
 * | fast path: first attempt without an async frame            | `engine.ts`, `first_attempt.ts` |
 * | general loop: limits, admission, attempts, waits           | `loop.ts`          |
 * | coalescing: joining a call in flight with the same key     | `coalesce.ts`      |
 * | admission: failure budget, rate-limit token, permit        | `admission.ts`     |
 * | waiting for the rate limiter's token                       | `rate_token.ts`    |
 * | waiting for the bulkhead permit                            | `permit.ts`        |
 * | hedged calls: attempts side by side; the hedge delay       | `hedge.ts`, `hedge_delay.ts` |
 * | the fallback of a call that gave up                        | `fallback.ts`      |
 * | one attempt: its context, timer and abort                  | `attempt.ts`       |
 * | the circuit admits; outcomes recorded in breaker and budget | `record.ts`        |
 * | give up, or retry after N ms (pure)                        | `decide.ts`        |
 * | events, spans, give-up errors                              | `report.ts`        |
 * | named outcome constants; one attempt's outcome             | `outcome.ts`       |
 * | the parts' interfaces; the engine's options                | `parts.ts`, `options.ts` |
 *
 * A call without a signal or deadline of its own takes the fast path; when
 * its first attempt does anything but succeed, the loop takes over exactly
 * as if it had run that attempt itself.
 *
 * @module
 */

import { defaultClassifier } from "../classify/default_classifier.ts";
import type { Classifier, ErrorClass } from "../core/error_class.ts";
import { type Clock, clockOption, type WheelTimers, wheelTimers } from "../core/clock.ts";
import type { ResilienceEvent } from "../core/events.ts";
import { defaultRandom, type RandomSource } from "../core/random.ts";
import { functionValue, numberAbove } from "../core/validate.ts";
import {
  type ResolvedRetryOptions,
  resolveRetryOptions,
  type RetryOptions,
} from "../retry/retry_options.ts";
import { type Operation, OperationContext, timerAt } from "./attempt.ts";
import {
  ClockFirstAttempt,
  FirstAttempt,
  type FirstAttemptShared,
  UntimedContext,
} from "./first_attempt.ts";
import { Coalescer } from "./coalesce.ts";
import { runHedged } from "./hedge.ts";
import type { HedgeDelay } from "./hedge_delay.ts";
import { runLoop } from "./loop.ts";
import {
  checkExecuteOptions,
  type EngineOptions,
  type EngineParts,
  type ExecuteOptions,
} from "./options.ts";
import { FIRED, type Fired, isErrorClass, RECORD } from "./outcome.ts";
import type {
  AttemptGate,
  CallObserver,
  CallTracer,
  ConcurrencyGate,
  OutcomeRecorder,
  RetryGate,
  TokenGate,
} from "./parts.ts";
import { admitAttempt, type Recorded, recordOutcome, recordSuccess } from "./record.ts";
import { NOOP_TRACER, Reporter } from "./report.ts";

export type { EngineOptions, EngineParts, ExecuteOptions } from "./options.ts";

/**
 * Runs an operation with retries, classification, per-class budgets, backoff,
 * a deadline and per-attempt timeouts. Used by `policy()` and `retry()`;
 * internal (its fields are read by the loop and the fast path's helpers).
 *
 * The success path with no deadline, timeout or signal sets no timer and
 * allocates only the attempt's context; the failure path pays for what it
 * uses.
 */
export class Engine implements Recorded {
  // Field order is memory layout: what a fast-path call reads comes first,
  // so that with thousands of live policies a call touches few cache lines.
  /** The parts allow the fast path (see {@link Engine.takesFastPath}). */
  readonly partsAllowFastPath: boolean;
  // The parts, as the engine's own fields (not one `parts` object): a call
  // then touches one object less.
  readonly observer: CallObserver | undefined;
  /** Calls the observer would not trace: the fast path skips asking it. */
  quietCalls = 0;
  readonly bulkhead: ConcurrencyGate | undefined;
  readonly retryBudget: RetryGate | undefined;
  readonly circuit: AttemptGate | undefined;
  readonly rateLimiter: TokenGate | undefined;
  readonly hedge: HedgeDelay | undefined;
  /** The earlier of the deadline and the attempt timeout, in ms. */
  readonly limitMs: number;
  /** The clock's lazily stamped timers, when its timers run on a wheel. */
  readonly timers: WheelTimers | undefined;
  /** What the fast path's first attempts share. */
  readonly shared: FirstAttemptShared;
  readonly classify: Classifier;
  readonly failureBudget: OutcomeRecorder | undefined;
  /** Events (the policy's event sink), spans and errors. */
  readonly report: Reporter;
  /** Name reported in events and errors. */
  readonly name: string;
  /** `policy "<name>"`, as errors say it. */
  readonly label: string;
  /** The clock the engine reads. */
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly deadlineMs: number;
  readonly attemptTimeoutMs: number;
  readonly retry: ResolvedRetryOptions;
  /** Releases the bulkhead permit a fast-path call took with `tryEnter()`. */
  readonly heldPermit: { release(): void } | undefined;
  /** Calls in flight by `coalesceKey` (created with the first such call). */
  #coalescer: Coalescer | undefined;

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
    this.label = `policy "${name}"`;
    this.deadlineMs = options.deadlineMs === undefined
      ? Infinity
      : numberAbove("deadlineMs", options.deadlineMs, 0);
    this.attemptTimeoutMs = options.attemptTimeoutMs === undefined
      ? Infinity
      : numberAbove("attemptTimeoutMs", options.attemptTimeoutMs, 0);
    this.classify = options.classify === undefined
      ? defaultClassifier
      : functionValue("classify", options.classify);
    this.random = options.random === undefined
      ? defaultRandom
      : functionValue("random", options.random);
    this.clock = clockOption(options.clock ?? undefined, [
      "now",
      "sleep",
      "setTimer",
      "clearTimer",
    ]);
    this.retry = resolveRetryOptions(retry, retryPath);
    this.timers = wheelTimers(this.clock);
    this.circuit = parts.circuit;
    this.failureBudget = parts.failureBudget;
    this.bulkhead = parts.bulkhead;
    this.retryBudget = parts.retryBudget;
    this.rateLimiter = parts.rateLimiter;
    this.hedge = parts.hedge;
    this.observer = parts.observer;
    this.report = new Reporter(
      name,
      this.clock,
      parts.observer,
      this.attemptTimeoutMs,
      this.retry,
    );
    if (options.onEvent !== undefined) {
      this.report.add(functionValue("onEvent", options.onEvent));
    }
    this.limitMs = Math.min(this.deadlineMs, this.attemptTimeoutMs);
    this.shared = {
      deadlineMs: this.deadlineMs,
      kind: this.attemptTimeoutMs < this.deadlineMs ? FIRED.attemptTimeout : FIRED.deadline,
      timers: this.timers,
      fire: this.#fireFirst,
    };
    const bulkhead = parts.bulkhead;
    this.heldPermit = bulkhead === undefined ? undefined : { release: () => bulkhead.exit() };
    this.partsAllowFastPath = parts.circuit?.slowCallMs === undefined &&
      parts.failureBudget?.action !== "reject";
  }

  /** Runs `operation` under the policy; see `Policy.execute`. */
  run<T>(operation: Operation<T>, options?: ExecuteOptions<T>): Promise<T> {
    if (options !== undefined) {
      try {
        options = checkExecuteOptions(options);
      } catch (error) {
        return Promise.reject(error);
      }
      if (options.coalesceKey !== undefined) {
        return (this.#coalescer ??= new Coalescer(this)).join(operation, options);
      }
    }
    return this.start(operation, options);
  }

  /** Starts a call (coalescing done): the fast path, the hedged call or the loop. */
  start<T>(operation: Operation<T>, options: ExecuteOptions<T> | undefined): Promise<T> {
    if (this.takesFastPath(operation, options)) return this.#first(operation, options);
    return this.#slow(operation, options, undefined);
  }

  /** The general path of a call: the hedged call when the policy hedges, else the loop. */
  #slow<T>(
    operation: Operation<T>,
    options: ExecuteOptions<T> | undefined,
    tracer: CallTracer | undefined,
  ): Promise<T> {
    return this.hedge === undefined
      ? runLoop(this, operation, options, undefined, tracer)
      : runHedged(this, operation, options, undefined, tracer);
  }

  /**
   * The fast-path rule, in one place. A call runs its first attempt
   * without an async frame, settling its own promise from a `then` on the
   * operation's, when nothing needs the general loop before that attempt
   * ends:
   * - no part reads the clock before the attempt: no breaker that times
   *   slow calls, no failure budget that rejects calls while breached
   *   (fixed when the policy is built, {@link Engine.partsAllowFastPath});
   * - the call brings no signal and no deadline of its own (they would
   *   have to abort the first attempt), and no `fallback` (a call the
   *   circuit refuses would need it); `maxAttempts` and `discard` only
   *   matter after a failure, in the loop, so `execute(fn)` and
   *   `execute(fn, {})` take the same path with the same deadline precision;
   * - the operation is a function (otherwise the loop rejects the call).
   *
   * Two things are known only by asking, as the fast path starts: whether
   * telemetry follows this call, and whether a bulkhead permit is free. A
   * traced call or one that must queue is handed to the loop at once.
   */
  takesFastPath(
    operation: unknown,
    options: { signal?: AbortSignal; deadline?: number; fallback?: unknown } | undefined,
  ): boolean {
    return this.partsAllowFastPath && typeof operation === "function" &&
      (options === undefined ||
        (options.signal === undefined && options.deadline === undefined &&
          options.fallback === undefined));
  }

  /**
   * The fast path's start: telemetry, the bulkhead and the rate limiter,
   * the circuit, then the first attempt.
   */
  #first<T>(operation: Operation<T>, options: ExecuteOptions<T> | undefined): Promise<T> {
    const observer = this.observer;
    if (observer !== undefined) {
      if (this.quietCalls > 0) this.quietCalls--;
      else {
        // A meter means a tracer (metrics per call); without one, nothing is recorded.
        const tracer = observer.start(this.name, this.clock, NaN);
        if (tracer !== undefined) return this.#slow(operation, options, tracer);
        // A meter whose tracer failed: the general loop still records the parts.
        if (observer.recordsParts) return this.#slow(operation, options, undefined);
        this.quietCalls = observer.takeQuietCalls();
      }
    }
    const bulkhead = this.bulkhead;
    // No free permit: the call queues, in the general loop.
    if (bulkhead !== undefined && !bulkhead.tryEnter()) {
      return this.#slow(operation, options, undefined);
    }
    // No free token: the call waits for one (or is refused), in the general loop.
    const limiter = this.rateLimiter;
    if (limiter !== undefined && !limiter.tryAcquire()) {
      bulkhead?.exit();
      return this.#slow(operation, options, undefined);
    }
    const circuit = this.circuit;
    try {
      this.retryBudget?.recordRequest();
      if (circuit !== undefined && !admitAttempt(this, circuit, NOOP_TRACER)) {
        bulkhead?.exit();
        return Promise.reject(this.report.circuitOpen(circuit, undefined));
      }
    } catch (error) {
      // A broken clock or part: the call fails as the general loop would fail it.
      bulkhead?.exit();
      return Promise.reject(error);
    }
    let limitMs = this.limitMs;
    const hedge = this.hedge;
    let hedging = false;
    // A delay that follows latencies times every first attempt.
    let observedStart = NaN;
    if (hedge !== undefined) {
      if (hedge.delayMs < limitMs) {
        limitMs = hedge.delayMs;
        hedging = true;
      }
      if (hedge.observes) {
        try {
          observedStart = this.clock.now();
        } catch (error) {
          recordOutcome(this, NOOP_TRACER, RECORD.release, 0, NaN);
          bulkhead?.exit();
          return Promise.reject(error);
        }
      }
    }
    if (limitMs === Infinity) {
      // Nothing can end the attempt early: chain onto its promise.
      const context = new UntimedContext();
      try {
        const result = operation(context);
        return (result instanceof Promise ? result : Promise.resolve(result)).then(
          (value: T) =>
            this.#firstSettled(operation, options, observedStart, false, value, undefined),
          (error: unknown) =>
            this.#firstSettled(operation, options, observedStart, true, undefined, error),
        );
      } catch (error) {
        return this.#resume(
          operation,
          options,
          observedStart,
          FIRED.none,
          true,
          undefined,
          error,
          undefined,
        );
      }
    }
    let first: FirstAttempt<T>;
    const timers = this.timers;
    if (timers !== undefined) {
      first = new FirstAttempt(operation, options, this.shared);
      if (hedge !== undefined) {
        first.hedging = hedging;
        first.observedStart = observedStart;
      }
      timers.schedule(first, limitMs);
    } else {
      const timed = new ClockFirstAttempt(operation, options, this.shared);
      if (hedge !== undefined) {
        timed.hedging = hedging;
        timed.observedStart = observedStart;
      }
      try {
        const clock = this.clock;
        const start = clock.now();
        timed.start = start;
        timed.timer = timerAt(clock, () => timed.callback(), start, start + limitMs);
      } catch (error) {
        recordOutcome(this, NOOP_TRACER, RECORD.release, 0, NaN);
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
    if (first.hedging) {
      // The hedge delay passed: the hedged call takes the running attempt over.
      first.resolve!(runHedged(this, first.operation, first.options, first, undefined));
      return;
    }
    const kind = first.shared.kind;
    first.fired = kind;
    const reason = this.report.reasonFor(first, kind);
    first.abort(reason);
    // The general loop continues after the timer's tick, as its own timers'
    // aborts do, rather than running the next attempt inside it.
    first.resolve!(
      Promise.resolve().then(() =>
        this.#resume(
          first.operation,
          first.options,
          first.callStart(),
          kind,
          true,
          undefined,
          reason,
          undefined,
        )
      ),
    );
  };

  /** Settles the call's own promise (the fast path with a timer) with the attempt's outcome. */
  #settleFirst<T>(first: FirstAttempt<T>, threw: boolean, value: T | undefined, error: unknown) {
    if (first.settled) {
      // The timer fired first: a hedged call took the attempt over, or its outcome is late.
      first.adopt?.(threw, value, error);
      return;
    }
    first.settled = true;
    const timers = this.timers;
    if (timers !== undefined) timers.cancel(first);
    else this.clock.clearTimer((first as ClockFirstAttempt<T>).timer!);
    try {
      first.resolve!(
        this.#firstSettled(first.operation, first.options, first, threw, value, error),
      );
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
    options: ExecuteOptions<T> | undefined,
    timed: FirstAttempt<T> | number,
    threw: boolean,
    value: T | undefined,
    error: unknown,
  ): T | Promise<T> {
    let verdict: ErrorClass | "success" | undefined;
    if (!threw) {
      try {
        verdict = this.classify(value);
      } catch (classifierError) {
        recordOutcome(this, NOOP_TRACER, RECORD.release, 0, NaN);
        this.bulkhead?.exit();
        throw classifierError;
      }
      if (verdict !== "success" && !isErrorClass(verdict)) {
        // (Checked here so that the loop never asks the classifier again.)
        recordOutcome(this, NOOP_TRACER, RECORD.release, 0, NaN);
        this.bulkhead?.exit();
        this.report.invalidClass(verdict);
      }
      if (verdict === "success") {
        // The budget's buckets are far wider than a tick: the start already
        // read, or else the wheel's latest reading, stamps the sample (a
        // wheel's stamp is in wheel time).
        let at = NaN;
        if (this.failureBudget !== undefined) {
          at = typeof timed === "number" ? NaN : timed.start;
          const timers = this.timers;
          if (timers !== undefined) at = at === at ? at + timers.origin : timers.coarseNow();
        }
        recordSuccess(this, NOOP_TRACER, 1, 0, at, NaN);
        this.bulkhead?.exit();
        const hedge = this.hedge;
        if (hedge !== undefined && hedge.observes) {
          const start = typeof timed === "number" ? timed : timed.observedStart;
          hedge.record(this.clock.now() - start);
        }
        return value as T;
      }
    }
    const failed = verdict as ErrorClass | undefined; // not "success": that returned above
    return typeof timed === "number"
      ? this.#resume(operation, options, timed, FIRED.none, threw, value, error, failed)
      : this.#resume(
        operation,
        options,
        timed.callStart(),
        timed.fired,
        threw,
        value,
        error,
        failed,
      );
  }

  /** Hands a call whose first attempt did not succeed over to the general loop. */
  #resume<T>(
    operation: Operation<T>,
    options: ExecuteOptions<T> | undefined,
    start: number,
    fired: Fired,
    threw: boolean,
    value: T | undefined,
    error: unknown,
    verdict: ErrorClass | undefined,
  ): Promise<T> {
    const first = { threw, value, error, verdict, fired, start };
    return this.hedge === undefined
      ? runLoop(this, operation, options, first, undefined)
      : runHedged(this, operation, options, first, undefined);
  }

  /**
   * Forwards an event of a composed part (breaker, budget, bulkhead); see
   * `Reporter.partEvent`.
   */
  forwardPartEvent(event: ResilienceEvent, owned: boolean): void {
    this.report.partEvent(event, owned);
  }
}
