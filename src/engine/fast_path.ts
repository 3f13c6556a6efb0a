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
import type { CallOutcome, CallTracer } from "./parts.ts";
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
  // The call's tracer when telemetry follows it: the fast path records what
  // the loop would (attempt start and end, the call's end), so a traced call
  // that succeeds at once never enters the loop either.
  let tracer = NOOP_TRACER;
  const observer = engine.observer;
  if (observer !== undefined) {
    if (engine.quietCalls > 0) engine.quietCalls--;
    else {
      const started = observer.start(engine.name, engine.clock, NaN);
      if (started !== undefined) {
        // A hedged call's attempts are traced side by side, in the hedged call.
        if (engine.hedge !== undefined) return engine.general(operation, options, started);
        tracer = started;
      } else engine.quietCalls = observer.takeQuietCalls();
    }
  }
  const bulkhead = engine.bulkhead;
  // No free permit: the call queues, in the general loop.
  if (bulkhead !== undefined && !bulkhead.tryEnter()) {
    return engine.general(operation, options, traced(engine, tracer));
  }
  // No free token: the call waits for one (or is refused), in the general loop.
  const limiter = engine.rateLimiter;
  if (limiter !== undefined && !limiter.tryAcquire()) {
    bulkhead?.exit();
    return engine.general(operation, options, traced(engine, tracer));
  }
  const circuit = engine.circuit;
  try {
    engine.retryBudget?.recordRequest();
    if (circuit !== undefined && !admitAttempt(engine, circuit, tracer)) {
      bulkhead?.exit();
      return failed(engine, tracer, "circuit_open", engine.report.circuitOpen(circuit, undefined));
    }
  } catch (error) {
    // A broken clock or part: the call fails as the general loop would fail it.
    bulkhead?.exit();
    return failed(engine, tracer, "permanent_fail", error);
  }
  // A traced call's attempt, out of line: the untraced one below pays nothing for it.
  if (tracer !== NOOP_TRACER) return firstTraced(engine, operation, options, tracer);
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
    return chainFirst(engine, operation, options, observedStart, NOOP_TRACER);
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
  return armFirst(engine, first, NOOP_TRACER);
}

/**
 * The fast path of a policy with no part, no telemetry and no time limit
 * (only retries): nothing to ask before the first attempt, which nothing
 * can end early.
 */
export function runPlain<T>(
  engine: Engine,
  operation: Operation<T>,
  options: ExecuteOptions<T> | undefined,
): Promise<T> {
  return chainFirst(engine, operation, options, NaN, NOOP_TRACER);
}

/**
 * A traced call's first attempt (admitted; a hedged policy's traced calls
 * run in the hedged call): its start is the one the tracer read, the
 * tracer sees it start and, with spans, makes its span the active context
 * while it runs.
 */
function firstTraced<T>(
  engine: Engine,
  operation: Operation<T>,
  options: ExecuteOptions<T> | undefined,
  tracer: CallTracer,
): Promise<T> {
  const start = tracer.startTime;
  tracer.attemptStart(1, start);
  const limitMs = engine.limitMs;
  if (limitMs === Infinity) return chainFirst(engine, operation, options, NaN, tracer);
  let first: FirstAttempt<T>;
  const timers = engine.timers;
  if (timers !== undefined) {
    first = new FirstAttempt(operation, options, engine.shared);
    timers.schedule(first, limitMs);
    first.start = start - timers.origin; // (in wheel time)
  } else {
    const timed = new ClockFirstAttempt(operation, options, engine.shared);
    try {
      timed.start = start;
      timed.timer = timerAt(engine.clock, () => timed.callback(), start, start + limitMs);
    } catch (error) {
      recordOutcome(engine, tracer, RECORD.release, 0, NaN);
      engine.bulkhead?.exit();
      return failed(engine, tracer, "permanent_fail", error);
    }
    first = timed;
  }
  first.tracer = tracer;
  return armFirst(engine, first, tracer);
}

/** Runs an attempt nothing can end early, chaining onto its promise (no call state). */
function chainFirst<T>(
  engine: Engine,
  operation: Operation<T>,
  options: ExecuteOptions<T> | undefined,
  observedStart: number,
  tracer: CallTracer,
): Promise<T> {
  const context = new UntimedContext();
  try {
    const result = tracer.wrapsAttempts
      ? tracer.runAttempt(() => operation(context))
      : operation(context);
    return (result instanceof Promise ? result : Promise.resolve(result)).then(
      (value: T) =>
        firstSettled(engine, operation, options, observedStart, tracer, false, value, undefined),
      (error: unknown) =>
        firstSettled(engine, operation, options, observedStart, tracer, true, undefined, error),
    );
  } catch (error) {
    return resume(
      engine,
      operation,
      options,
      observedStart,
      tracer,
      FIRED.none,
      true,
      undefined,
      error,
      undefined,
    );
  }
}

/** Runs the armed first attempt; the call's own promise settles from its outcome or timer. */
function armFirst<T>(engine: Engine, first: FirstAttempt<T>, tracer: CallTracer): Promise<T> {
  // (An executor closure measured faster than one shared executor that
  // hands the resolvers over through module variables.)
  const promise = new Promise<T>((resolve, reject) => {
    first.resolve = resolve;
    first.reject = reject;
  });
  const operation = first.operation;
  try {
    const context = new OperationContext(1, first);
    const result = tracer.wrapsAttempts
      ? tracer.runAttempt(() => operation(context))
      : operation(context);
    (result instanceof Promise ? result : Promise.resolve(result)).then(
      (value: T) => settleFirst(engine, first, false, value, undefined),
      (error: unknown) => settleFirst(engine, first, true, undefined, error),
    );
  } catch (error) {
    settleFirst(engine, first, true, undefined, error);
  }
  return promise;
}

/** A started tracer for the general loop, or undefined when the call is not traced. */
function traced(engine: Engine, tracer: CallTracer): CallTracer | undefined {
  return engine.report.traces(tracer) ? tracer : undefined;
}

/** Ends a call the fast path refused before its first attempt ran (no fallback here). */
function failed(
  engine: Engine,
  tracer: CallTracer,
  outcome: CallOutcome,
  error: unknown,
): Promise<never> {
  engine.report.callFailed(tracer, outcome, 0, error);
  return Promise.reject(error);
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
        first.tracer,
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
      firstSettled(
        engine,
        first.operation,
        first.options,
        first,
        first.tracer,
        threw,
        value,
        error,
      ),
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
  tracer: CallTracer,
  threw: boolean,
  value: T | undefined,
  error: unknown,
): T | Promise<T> {
  let verdict: ErrorClass | "success" | undefined;
  if (!threw) {
    try {
      verdict = engine.classify(value);
    } catch (classifierError) {
      classifierFailed(engine, tracer, classifierError);
    }
    // (Checked here so that the loop never asks the classifier again.)
    if (verdict !== "success" && !isErrorClass(verdict)) invalidVerdict(engine, tracer, verdict);
    if (verdict === "success") {
      // A traced call's success, out of line: this function stays small
      // enough to be inlined into the attempt's `then` callback.
      if (tracer !== NOOP_TRACER) return tracedSuccess(engine, tracer, value as T);
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
    ? resume(engine, operation, options, timed, tracer, FIRED.none, threw, value, error, failed)
    : resume(
      engine,
      operation,
      options,
      timed.callStart(),
      tracer,
      timed.fired,
      threw,
      value,
      error,
      failed,
    );
}

/**
 * A traced call's first attempt succeeded: its end is read once and stamps
 * the attempt, the budget's sample and the call (a hedged policy's traced
 * calls run in the hedged call, not here).
 */
function tracedSuccess<T>(engine: Engine, tracer: CallTracer, value: T): T {
  const end = engine.clock.now();
  tracer.attemptEnd(1, end, undefined, undefined);
  recordSuccess(engine, tracer, 1, 0, end, end);
  engine.bulkhead?.exit();
  tracer.end(end, "success", 1, undefined);
  return value;
}

/** The classifier answered something that is no class: the call ends with that TypeError. */
function invalidVerdict(engine: Engine, tracer: CallTracer, verdict: unknown): never {
  let invalid: unknown;
  try {
    engine.report.invalidClass(verdict);
  } catch (e) {
    invalid = e;
  }
  return classifierFailed(engine, tracer, invalid);
}

/**
 * The classifier threw, or answered something that is no class: the call
 * ends with that error, as in the loop (its attempt failed as `unknown`).
 */
function classifierFailed(engine: Engine, tracer: CallTracer, error: unknown): never {
  recordOutcome(engine, tracer, RECORD.release, 0, NaN);
  engine.bulkhead?.exit();
  if (engine.report.traces(tracer)) {
    const now = engine.clock.now();
    tracer.attemptEnd(1, now, "unknown", error);
    tracer.end(now, "permanent_fail", 1, error);
  }
  throw error;
}

/**
 * Hands a call whose first attempt did not succeed over to the general loop
 * (with the call's tracer, which saw the attempt start).
 */
function resume<T>(
  engine: Engine,
  operation: Operation<T>,
  options: ExecuteOptions<T> | undefined,
  start: number,
  tracer: CallTracer,
  fired: Fired,
  threw: boolean,
  value: T | undefined,
  error: unknown,
  verdict: ErrorClass | undefined,
): Promise<T> {
  const first = { threw, value, error, verdict, fired, start };
  return engine.hedge === undefined
    ? runLoop(engine, operation, options, first, traced(engine, tracer))
    : runHedged(engine, operation, options, first, undefined);
}
