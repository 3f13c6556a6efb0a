/**
 * The general loop: one call from admission to its end, for every call the
 * fast path does not finish (see `engine.ts`). Its phases, in the order of
 * docs/policy.md "The loop, step by step":
 *
 * 1. limits: the call's start, deadline and attempt cap;
 * 2. admission: the failure budget (when it rejects), the bulkhead permit
 *    (`permit.ts`), the retry budget's request count;
 * 3. per attempt: the gates (deadline passed? circuit open?), the attempt
 *    with its timer (`attempt.ts`), the deadline or a caller abort ending
 *    the call, classification, recording (`record.ts`), the decision
 *    (`decide.ts`), then the wait before the next attempt.
 *
 * Events, spans and errors all go through the reporter (`report.ts`).
 *
 * @module
 */

import type { ErrorClass } from "../core/error_class.ts";
import { typeError } from "../core/validate.ts";
import { CLASS_INDEX } from "../retry/retry_options.ts";
import { AttemptRun, type Operation, OperationContext } from "./attempt.ts";
import { decide } from "./decide.ts";
import type { Engine } from "./engine.ts";
import type { ExecuteOptions } from "./options.ts";
import { type AttemptOutcome, FIRED, isErrorClass, RECORD } from "./outcome.ts";
import type { CallOutcome, CallTracer } from "./parts.ts";
import { admitCall, refusalOutcome } from "./admission.ts";
import { endFailedCall, runFallback } from "./fallback.ts";
import type { Permit } from "./permit.ts";
import { admitAttempt, recordOutcome, recordSuccess } from "./record.ts";
import { GIVE_UP_EVENT, NOOP_TRACER } from "./report.ts";

const PERMANENT = CLASS_INDEX.permanent;

/**
 * The deadline after a clock reading `now` that follows `last`: a clock that
 * stepped back (a custom clock set back by an operator or NTP) moves the
 * deadline back by the step, so the time left never grows and a deadline
 * is bounded by the time that actually elapsed between readings.
 */
function keepElapsed(deadline: number, last: number, now: number): number {
  return now < last ? deadline - (last - now) : deadline;
}

/**
 * Runs a call through the general loop. `first` is the first attempt when
 * the fast path ran it (the call then already passed admission and holds
 * its permit); `started` is the call's tracer when the fast path started one.
 * `options` are the call's own checked copy (`checkExecuteOptions`).
 */
export async function runLoop<T>(
  engine: Engine,
  operation: Operation<T>,
  options: ExecuteOptions<T> | undefined,
  first: AttemptOutcome<T> | undefined,
  started: CallTracer | undefined,
): Promise<T> {
  if (typeof operation !== "function") typeError("fn", "a function", operation);
  const signal = options?.signal;
  if (signal?.aborted) throw signal.reason;
  const { clock, retry, circuit, report } = engine;

  // 1. Limits. Attempt 1 reuses the call's start rather than reading the clock again.
  let callStart = first !== undefined
    ? first.start
    : started !== undefined
    ? started.startTime
    : engine.deadlineMs === Infinity
    ? NaN
    : clock.now();
  let deadline = engine.deadlineMs === Infinity ? Infinity : callStart + engine.deadlineMs;
  if (options?.deadline !== undefined && options.deadline < deadline) deadline = options.deadline;
  const maxAttempts = options?.maxAttempts === undefined
    ? retry.maxAttempts
    : Math.min(retry.maxAttempts, options.maxAttempts);
  // A call the fast path ran untraced stays untraced.
  const tracer = started ?? (first === undefined ? report.startCall(callStart) : NOOP_TRACER);
  // A tracer that read the clock gives attempt 1 its start.
  if (callStart !== callStart) callStart = tracer.startTime;
  // Read the clock per attempt only when something needs the time: the
  // start for a deadline, a timeout or a trace; the end for a trace or a
  // breaker that detects slow calls.
  const timedEnd = report.traces(tracer) || circuit?.slowCallMs !== undefined;
  const timed = timedEnd || deadline !== Infinity || engine.attemptTimeoutMs !== Infinity;

  let current: AttemptRun<T> | undefined;
  const onAbort = signal === undefined ? undefined : () => current?.abort(signal.reason);
  if (onAbort !== undefined) signal!.addEventListener("abort", onAbort, { once: true });

  let outcome: CallOutcome = "success";
  let attempts = 0;
  // A call the fast path started holds the permit it took.
  let permit: Permit | undefined = first !== undefined ? engine.heldPermit : undefined;
  let failures: number[] | undefined;
  let lastError: unknown;
  let lastClass: ErrorClass | undefined;
  let prevDelayMs: number | undefined;
  let gaveUp: unknown;
  // The latest clock reading the deadline was checked against (see keepElapsed).
  let lastRead = first === undefined ? callStart : NaN;
  try {
    // 2. Admission (a call the fast path started already passed it).
    if (first === undefined) {
      try {
        const admitted = await admitCall(engine, signal, deadline, tracer);
        permit = admitted.permit;
        if (admitted.waited) callStart = NaN; // time passed: attempt 1 reads the clock
      } catch (error) {
        outcome = refusalOutcome(error, signal);
        throw error;
      }
    }

    for (let attempt = 1;; attempt++) {
      // The caller may have aborted while no attempt was running (in the
      // bulkhead's hand-over, or as a backoff sleep ended): stop here.
      if (signal?.aborted) {
        outcome = "cancelled";
        throw signal.reason;
      }
      let startedAt = 0;
      let o: AttemptOutcome<T>;
      if (attempt === 1 && first !== undefined) {
        // 3a. The fast path ran this attempt (the circuit admitted it).
        if (timed) startedAt = callStart;
        attempts = 1;
        o = first;
      } else {
        // 3a. The gates: the deadline, then the circuit.
        if (timed) {
          if (attempt === 1 && callStart === callStart) startedAt = callStart;
          else {
            startedAt = clock.now();
            deadline = keepElapsed(deadline, lastRead, startedAt);
            lastRead = startedAt;
          }
        }
        if (startedAt >= deadline) {
          outcome = "deadline_exceeded";
          throw report.deadlineExceeded(
            tracer,
            attempt - 1,
            deadline,
            lastError,
            lastClass,
            startedAt,
          );
        }
        if (circuit !== undefined && !admitAttempt(engine, circuit, tracer)) {
          outcome = "circuit_open";
          throw report.circuitOpen(circuit, lastError);
        }
        attempts = attempt;
        // 3b. The attempt, with a timer at the earlier of the deadline and its timeout.
        tracer.attemptStart(attempt, startedAt);
        const run = new AttemptRun<T>(attempt, deadline, startedAt);
        const invoke: Operation<T> = tracer.wrapsAttempts
          ? (ctx) => tracer.runAttempt(() => operation(ctx))
          : operation;
        const limitAt = Math.min(deadline, startedAt + engine.attemptTimeoutMs);
        if (limitAt === Infinity && signal === undefined) {
          try {
            run.value = await invoke(new OperationContext(attempt, run));
          } catch (e) {
            run.threw = true;
            run.error = e;
          }
        } else {
          if (limitAt !== Infinity) {
            run.previousError = lastError;
            run.arm(
              clock,
              startedAt,
              limitAt,
              limitAt >= deadline ? FIRED.deadline : FIRED.attemptTimeout,
              report.reasonFor,
            );
          }
          current = run;
          try {
            run.value = await run.settle(invoke);
          } catch (e) {
            run.threw = true;
            run.error = e;
          } finally {
            run.disarm();
            current = undefined;
          }
        }
        o = run;
      }

      // 3c. A caller abort or the deadline ends the call; a timeout is a failure.
      if (o.threw) {
        if (signal?.aborted) {
          recordOutcome(engine, tracer, RECORD.release, 0, NaN);
          report.attemptCancelled(tracer, attempt, signal.reason);
          outcome = "cancelled";
          throw signal.reason;
        }
        if (o.fired === FIRED.deadline) {
          const now = clock.now();
          tracer.attemptEnd(attempt, now, "transient", o.error);
          recordOutcome(engine, tracer, RECORD.failure, now - startedAt, now);
          report.deadlineEvent(tracer, attempt, lastError, lastClass, now);
          outcome = "deadline_exceeded";
          throw o.error;
        }
        if (o.fired === FIRED.attemptTimeout) report.attemptTimeout(tracer, attempt);
      }

      // 3d. Classify. A value the fast path already classified is not classified again.
      const endedAt = timedEnd ? clock.now() : 0;
      const durationMs = timedEnd ? endedAt - startedAt : 0;
      const sampleAt = timedEnd ? endedAt : timed ? startedAt : NaN;
      let verdict: ErrorClass | "success";
      try {
        verdict = o.verdict ?? engine.classify(o.threw ? o.error : o.value);
      } catch (classifierError) {
        // A classifier bug ends the call with its error; the attempt's
        // half-open probe (if any) must not stay reserved, nor its span open.
        tracer.attemptEnd(attempt, timedEnd ? endedAt : clock.now(), "unknown", classifierError);
        recordOutcome(engine, tracer, RECORD.release, 0, NaN);
        outcome = "permanent_fail";
        throw classifierError;
      }
      if (verdict !== "success" && !isErrorClass(verdict)) {
        recordOutcome(engine, tracer, RECORD.release, 0, NaN);
        outcome = "permanent_fail";
        try {
          report.invalidClass(verdict);
        } catch (invalid) {
          // Its span ends too, as for a classifier that throws.
          tracer.attemptEnd(attempt, timedEnd ? endedAt : clock.now(), "unknown", invalid);
          throw invalid;
        }
      }
      let error = o.error;
      if (o.threw) {
        if (verdict === "success") verdict = "unknown";
      } else if (verdict === "success") {
        tracer.attemptEnd(attempt, endedAt, undefined, undefined);
        recordSuccess(engine, tracer, attempt, durationMs, sampleAt, timedEnd ? endedAt : NaN);
        tracer.end(endedAt, "success", attempt, undefined);
        return o.value as T;
      } else {
        error = o.value;
      }

      // 3e. Record the failure. A permanent failure is the caller's problem,
      // not the dependency's: it counts against neither the breaker nor the budget.
      const cls = verdict;
      const index = CLASS_INDEX[cls];
      tracer.attemptEnd(attempt, endedAt, cls, error);
      recordOutcome(
        engine,
        tracer,
        index === PERMANENT ? RECORD.release : RECORD.failure,
        durationMs,
        sampleAt,
      );
      failures ??= [0, 0, 0, 0, 0, 0, 0];
      lastError = error;
      lastClass = cls;
      const now = clock.now();
      deadline = keepElapsed(deadline, lastRead, now);
      lastRead = now;

      // 3f. Decide: give up, or retry after a delay.
      const decision = decide({
        errorClass: cls,
        classFailures: ++failures[index],
        attempt,
        maxAttempts,
        failure: error,
        deadline,
        prevDelayMs,
        now,
        random: engine.random,
        label: engine.label,
      }, retry);
      if (decision.action === "permanent") {
        report.permanentFail(tracer, attempt, error, now);
        outcome = "permanent_fail";
        if (o.threw) throw error;
        tracer.end(now, "permanent_fail", attempt, undefined);
        return o.value as T;
      }
      if (decision.action === "deadline") {
        outcome = "deadline_exceeded";
        if (!o.threw) options?.discard?.(o.value);
        throw report.deadlineExceeded(tracer, attempt, deadline, error, cls, now, decision.delayMs);
      }
      // The retry budget has the last say on a retry.
      if (decision.action === "give_up" || engine.retryBudget?.tryRetry() === false) {
        const reason = decision.action === "give_up" ? decision.reason : "retry_budget";
        outcome = GIVE_UP_EVENT[reason];
        throw report.giveUp(
          tracer,
          reason,
          attempt,
          cls,
          error,
          o.threw,
          o.value,
          now,
          maxAttempts,
        );
      }

      // 3g. Wait; the sleep aborts at once on the caller's signal.
      const delayMs = decision.delayMs;
      report.retry(tracer, attempt, cls, error, delayMs, now);
      if (!o.threw) options?.discard?.(o.value);
      if (delayMs > 0) {
        try {
          await clock.sleep(delayMs, signal);
        } catch (e) {
          outcome = "cancelled";
          throw e;
        }
      }
      prevDelayMs = delayMs;
    }
  } catch (error) {
    // A call that rejects where no outcome was set (a backoff, `discard` or a
    // part's strategy threw) failed all the same, and is not retried.
    if (outcome === "success") outcome = "permanent_fail";
    if (!endFailedCall(report, tracer, options, outcome, attempts, error)) throw error;
    gaveUp = error;
  } finally {
    permit?.release();
    if (onAbort !== undefined) signal!.removeEventListener("abort", onAbort);
  }
  // The call gave up and has a fallback: it runs outside the bulkhead.
  return runFallback(options!, gaveUp, outcome, attempts);
}
