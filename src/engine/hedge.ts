/**
 * Hedged calls: attempts that run side by side within one call. When an
 * attempt has not settled after the hedge delay, another starts beside it
 * (up to `maxHedges` extra in flight); the first success wins and every
 * other attempt is aborted with `HedgeCancelledError` and recorded neither
 * as a success nor as a failure. A failure that may be retried starts the
 * next attempt at once when nothing else is in flight (gRPC's hedging rule
 * for "non-fatal" status codes, gRFC A6); a permanent failure ends the call
 * and aborts the rest. Hedges count as attempts for `maxAttempts` and as
 * retries for the retry budget; the deadline ends them all.
 *
 * The call is driven by callbacks (each attempt's settling, the hedge
 * timer, the deadline timer, the caller's abort) rather than by a loop of
 * awaits, since several attempts are in flight at once. Admission, the
 * decision and reporting are the loop's own (`admission.ts`, `decide.ts`,
 * `report.ts`).
 *
 * @module
 */

import { typeError } from "../core/validate.ts";
import { admitCall, refusalOutcome } from "./admission.ts";
import type { Operation } from "./attempt.ts";
import type { Engine } from "./engine.ts";
import { endFailedCall, runFallback } from "./fallback.ts";
import { FirstAttempt } from "./first_attempt.ts";
import { HedgedCall } from "./hedged_call.ts";
import type { ExecuteOptions } from "./options.ts";
import type { AttemptOutcome } from "./outcome.ts";
import type { CallTracer } from "./parts.ts";
import type { Permit } from "./permit.ts";
import { NOOP_TRACER } from "./report.ts";

/**
 * Runs a call of a policy with `hedge`. `handed` is the fast path's first
 * attempt: still running (its hedge delay passed) or ended without success;
 * the call then already passed admission and holds its permit.
 */
export async function runHedged<T>(
  engine: Engine,
  operation: Operation<T>,
  options: ExecuteOptions<T> | undefined,
  handed: FirstAttempt<T> | AttemptOutcome<T> | undefined,
  started: CallTracer | undefined,
): Promise<T> {
  if (typeof operation !== "function") typeError("fn", "a function", operation);
  const signal = options?.signal;
  if (signal?.aborted) throw signal.reason;
  const { clock, report } = engine;
  // A call the fast path ran untraced stays untraced.
  const tracer = started ?? (handed === undefined ? report.startCall(NaN) : NOOP_TRACER);
  let callStart = handed instanceof FirstAttempt
    ? handed.callStart()
    : handed !== undefined
    ? handed.start
    : tracer.startTime;
  if (callStart !== callStart) callStart = clock.now();
  let deadline = engine.deadlineMs === Infinity ? Infinity : callStart + engine.deadlineMs;
  if (options?.deadline !== undefined && options.deadline < deadline) deadline = options.deadline;
  const call = new HedgedCall(engine, operation, options, tracer, deadline);
  let permit: Permit | undefined = handed !== undefined ? engine.heldPermit : undefined;
  let gaveUp: unknown;
  try {
    if (handed === undefined) {
      try {
        permit = (await admitCall(engine, signal, deadline, tracer)).permit;
      } catch (error) {
        call.outcome = refusalOutcome(error, signal);
        throw error;
      }
    }
    return await call.run(handed, callStart);
  } catch (error) {
    if (call.outcome === "success") call.outcome = "permanent_fail";
    if (!endFailedCall(report, tracer, options, call.outcome, call.started, error)) throw error;
    gaveUp = error;
  } finally {
    permit?.release();
  }
  return runFallback(options!, gaveUp, call.outcome, call.started);
}
