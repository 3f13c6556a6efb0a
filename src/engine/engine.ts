/**
 * The call engine: runs an operation under a policy's deadline, attempt
 * timeout, retries, circuit breaker, failure budget, bulkhead and retry
 * budget, and reports every step.
 *
 * ## How a call flows
 *
 * | phase                                                       | file                           |
 * | ----------------------------------------------------------- | ------------------------------ |
 * | `run()`: options checked, coalescing, the fast-path rule    | `engine.ts`                    |
 * | joining a call in flight with the same `coalesceKey`        | `coalesce.ts`                  |
 * | fast path: first attempt without an async frame             | `fast_path.ts`, `first_attempt.ts` |
 * | general loop: limits, admission, attempts, waits            | `loop.ts`                      |
 * | hedged calls: attempts side by side                         | `hedge.ts`, `hedged_call.ts`, `hedge_attempt.ts`, `hedge_delay.ts` |
 * | admission: failure budget, rate-limit token, bulkhead permit | `admission.ts`                 |
 * | waiting for the rate limiter's token                        | `rate_token.ts`                |
 * | waiting for the bulkhead permit                             | `permit.ts`                    |
 * | one attempt: its context, timer and abort                   | `attempt.ts`                   |
 * | the circuit admits; outcomes recorded in breaker and budget  | `record.ts`                    |
 * | give up, or retry after N ms (pure)                         | `decide.ts`                    |
 * | the fallback of a call that gave up                         | `fallback.ts`                  |
 * | events, spans, give-up errors                               | `report.ts`                    |
 * | named outcome constants; one attempt's outcome              | `outcome.ts`                   |
 * | the parts' interfaces; the engine's options                 | `parts.ts`, `options.ts`       |
 *
 * A call without a signal, deadline or fallback of its own takes the fast
 * path; when its first attempt does anything but succeed (or, with `hedge`,
 * runs past the hedge delay), the loop or the hedged call takes over
 * exactly as if it had run that attempt itself.
 *
 * @module
 */

import { defaultClassifier } from "../classify/default_classifier.ts";
import type { Classifier } from "../core/error_class.ts";
import { type Clock, clockOption, type WheelTimers, wheelTimers } from "../core/clock.ts";
import type { ResilienceEvent } from "../core/events.ts";
import { defaultRandom, type RandomSource } from "../core/random.ts";
import { functionValue, numberAbove } from "../core/validate.ts";
import {
  type ResolvedRetryOptions,
  resolveRetryOptions,
  type RetryOptions,
} from "../retry/retry_options.ts";
import type { Operation } from "./attempt.ts";
import type { FirstAttemptShared } from "./first_attempt.ts";
import { Coalescer } from "./coalesce.ts";
import { fireFirst, runFirst, runPlain } from "./fast_path.ts";
import { runHedged } from "./hedge.ts";
import type { HedgeDelay } from "./hedge_delay.ts";
import { runLoop } from "./loop.ts";
import {
  checkExecuteOptions,
  type EngineOptions,
  type EngineParts,
  type ExecuteOptions,
} from "./options.ts";
import { FIRED } from "./outcome.ts";
import type {
  AttemptGate,
  CallObserver,
  CallTracer,
  ConcurrencyGate,
  OutcomeRecorder,
  RetryGate,
  TokenGate,
} from "./parts.ts";
import type { Recorded } from "./record.ts";
import { Reporter } from "./report.ts";

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
  /** No part, no telemetry, no time limit: the fast path has nothing to ask first. */
  readonly plain: boolean;
  // The parts, as the engine's own fields (not one `parts` object): a call
  // then touches one object less.
  readonly observer: CallObserver | undefined;
  /** Calls the observer would not trace: the fast path skips asking it. */
  quietCalls = 0;
  /**
   * Someone listens to the policy's events (the reporter's `active`, kept
   * here too, so that a call's success reads no other object to know).
   */
  listening = false;
  /** See {@link EngineParts.ownsParts}. */
  readonly ownsParts: boolean;
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
    this.ownsParts = parts.ownsParts === true;
    if (parts.bulkhead !== undefined) parts.observer?.watchBulkhead(parts.bulkhead);
    if (parts.failureBudget !== undefined) parts.observer?.watchFailureBudget(parts.failureBudget);
    this.report = new Reporter(
      name,
      this.clock,
      parts.observer,
      this.attemptTimeoutMs,
      this.retry,
      (active) => {
        this.listening = active;
      },
    );
    if (options.onEvent !== undefined) {
      this.report.add(functionValue("onEvent", options.onEvent));
    }
    this.limitMs = Math.min(this.deadlineMs, this.attemptTimeoutMs);
    this.shared = {
      deadlineMs: this.deadlineMs,
      kind: this.attemptTimeoutMs < this.deadlineMs ? FIRED.attemptTimeout : FIRED.deadline,
      timers: this.timers,
      fire: (first) => fireFirst(this, first),
    };
    const bulkhead = parts.bulkhead;
    this.heldPermit = bulkhead === undefined ? undefined : { release: () => bulkhead.exit() };
    this.plain = parts.observer === undefined && parts.bulkhead === undefined &&
      parts.rateLimiter === undefined && parts.circuit === undefined &&
      parts.retryBudget === undefined && parts.hedge === undefined &&
      parts.failureBudget === undefined && this.limitMs === Infinity;
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
    if (this.takesFastPath(operation, options)) {
      return this.plain ? runPlain(this, operation, options) : runFirst(this, operation, options);
    }
    return this.general(operation, options, undefined);
  }

  /** The general path of a call: the hedged call when the policy hedges, else the loop. */
  general<T>(
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
   * Forwards an event of a composed part (breaker, budget, bulkhead); see
   * `Reporter.partEvent`.
   */
  forwardPartEvent(event: ResilienceEvent, owned: boolean): void {
    this.report.partEvent(event, owned);
  }
}
