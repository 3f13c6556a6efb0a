/**
 * The fast path: a call's first attempt run without an async frame, its
 * promise settled from a `then` on the operation's (see `Engine.takesFastPath`
 * for which calls take it). A success ends the call here; anything else
 * (a failure, the deadline or attempt timeout firing, the hedge delay
 * passing) hands the call to the general loop or the hedged call exactly
 * as if they had run that attempt themselves.
 *
 * @module
 */

import type { ErrorClass } from "../core/error_class.ts";
import { type Operation, OperationContext, timerAt } from "./attempt.ts";
import type { Engine } from "./engine.ts";
import { ClockFirstAttempt, FirstAttempt, UntimedContext } from "./first_attempt.ts";
import { runHedged } from "./hedge.ts";
import { runLoop } from "./loop.ts";
import type { ExecuteOptions } from "./options.ts";
import { FIRED, type Fired, isErrorClass, RECORD } from "./outcome.ts";
import { admitAttempt, recordOutcome, recordSuccess } from "./record.ts";
import { NOOP_TRACER } from "./report.ts";

/**
 * The fast path's start: telemetry, the bulkhead and the rate limiter,
 * the circuit, then the first attempt.
 */
export function runFirst<T>(
  engine: Engine,
  operation: Operation<T>,
  options: ExecuteOptions<T> | undefined,
): Promise<T> {
  const observer = engine.observer;
  if (observer !== undefined) {
    if (engine.quietCalls > 0) engine.quietCalls--;
    else {
      // A meter means a tracer (metrics per call); without one, nothing is recorded.
      const tracer = observer.start(engine.name, engine.clock, NaN);
      if (tracer !== undefined) return engine.general(operation, options, tracer);
      // A meter whose tracer failed: the general loop still records the parts.
      if (observer.recordsParts) return engine.general(operation, options, undefined);
      engine.quietCalls = observer.takeQuietCalls();
    }
  }
  const bulkhead = engine.bulkhead;
  // No free permit: the call queues, in the general loop.
  if (bulkhead !== undefined && !bulkhead.tryEnter()) {
    return engine.general(operation, options, undefined);
  }
  // No free token: the call waits for one (or is refused), in the general loop.
  const limiter = engine.rateLimiter;
  if (limiter !== undefined && !limiter.tryAcquire()) {
    bulkhead?.exit();
    return engine.general(operation, options, undefined);
  }
  const circuit = engine.circuit;
  try {
    engine.retryBudget?.recordRequest();
    if (circuit !== undefined && !admitAttempt(engine, circuit, NOOP_TRACER)) {
      bulkhead?.exit();
      return Promise.reject(engine.report.circuitOpen(circuit, undefined));
    }
  } catch (error) {
    // A broken clock or part: the call fails as the general loop would fail it.
    bulkhead?.exit();
    return Promise.reject(error);
  }
  let limitMs = engine.limitMs;
  const hedge = engine.hedge;
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
        observedStart = engine.clock.now();
      } catch (error) {
        recordOutcome(engine, NOOP_TRACER, RECORD.release, 0, NaN);
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
          firstSettled(engine, operation, options, observedStart, false, value, undefined),
        (error: unknown) =>
          firstSettled(engine, operation, options, observedStart, true, undefined, error),
      );
    } catch (error) {
      return resume(
        engine,
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
  const timers = engine.timers;
  if (timers !== undefined) {
    first = new FirstAttempt(operation, options, engine.shared);
    if (hedge !== undefined) {
      first.hedging = hedging;
      first.observedStart = observedStart;
    }
    timers.schedule(first, limitMs);
  } else {
    const timed = new ClockFirstAttempt(operation, options, engine.shared);
    if (hedge !== undefined) {
      timed.hedging = hedging;
      timed.observedStart = observedStart;
    }
    try {
      const clock = engine.clock;
      const start = clock.now();
      timed.start = start;
      timed.timer = timerAt(clock, () => timed.callback(), start, start + limitMs);
    } catch (error) {
      recordOutcome(engine, NOOP_TRACER, RECORD.release, 0, NaN);
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
      (value: T) => settleFirst(engine, first, false, value, undefined),
      (error: unknown) => settleFirst(engine, first, true, undefined, error),
    );
  } catch (error) {
    settleFirst(engine, first, true, undefined, error);
  }
  return promise;
}

/** The first attempt's timer fired before it settled. */
export function fireFirst(engine: Engine, first: FirstAttempt<unknown>): void {
  if (first.settled) return;
  first.settled = true;
  if (first.hedging) {
    // The hedge delay passed: the hedged call takes the running attempt over.
    first.resolve!(runHedged(engine, first.operation, first.options, first, undefined));
    return;
  }
  const kind = first.shared.kind;
  first.fired = kind;
  const reason = engine.report.reasonFor(first, kind);
  first.abort(reason);
  // The general loop continues after the timer's tick, as its own timers'
  // aborts do, rather than running the next attempt inside it.
  first.resolve!(
    Promise.resolve().then(() =>
      resume(
        engine,
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
}

/** Settles the call's own promise (the fast path with a timer) with the attempt's outcome. */
function settleFirst<T>(
  engine: Engine,
  first: FirstAttempt<T>,
  threw: boolean,
  value: T | undefined,
  error: unknown,
): void {
  if (first.settled) {
    // The timer fired first: a hedged call took the attempt over, or its outcome is late.
    first.adopt?.(threw, value, error);
    return;
  }
  first.settled = true;
  const timers = engine.timers;
  if (timers !== undefined) timers.cancel(first);
  else engine.clock.clearTimer((first as ClockFirstAttempt<T>).timer!);
  try {
    first.resolve!(
      firstSettled(engine, first.operation, first.options, first, threw, value, error),
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
function firstSettled<T>(
  engine: Engine,
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
      verdict = engine.classify(value);
    } catch (classifierError) {
      recordOutcome(engine, NOOP_TRACER, RECORD.release, 0, NaN);
      engine.bulkhead?.exit();
      throw classifierError;
    }
    if (verdict !== "success" && !isErrorClass(verdict)) {
      // (Checked here so that the loop never asks the classifier again.)
      recordOutcome(engine, NOOP_TRACER, RECORD.release, 0, NaN);
      engine.bulkhead?.exit();
      engine.report.invalidClass(verdict);
    }
    if (verdict === "success") {
      // The budget's buckets are far wider than a tick: the start already
      // read, or else the wheel's latest reading, stamps the sample (a
      // wheel's stamp is in wheel time).
      let at = NaN;
      if (engine.failureBudget !== undefined) {
        at = typeof timed === "number" ? NaN : timed.start;
        const timers = engine.timers;
        if (timers !== undefined) at = at === at ? at + timers.origin : timers.coarseNow();
      }
      recordSuccess(engine, NOOP_TRACER, 1, 0, at, NaN);
      engine.bulkhead?.exit();
      const hedge = engine.hedge;
      if (hedge !== undefined && hedge.observes) {
        const start = typeof timed === "number" ? timed : timed.observedStart;
        hedge.record(engine.clock.now() - start);
      }
      return value as T;
    }
  }
  const failed = verdict as ErrorClass | undefined; // not "success": that returned above
  return typeof timed === "number"
    ? resume(engine, operation, options, timed, FIRED.none, threw, value, error, failed)
    : resume(
      engine,
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
function resume<T>(
  engine: Engine,
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
  return engine.hedge === undefined
    ? runLoop(engine, operation, options, first, undefined)
    : runHedged(engine, operation, options, first, undefined);
}
