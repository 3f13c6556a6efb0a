/**
 * The bulkhead permit: where a call waits for its permit. A free permit is
 * taken at once; otherwise the call waits in the bulkhead's queue, the wait
 * bounded by the call's signal and its deadline. (The bulkhead gauges read
 * its occupancy when metrics are collected: nothing is recorded here.)
 *
 * @module
 */

import type { TimerId } from "../core/clock.ts";
import { DeadlineExceededError } from "../core/errors.ts";
import { timerAt } from "./attempt.ts";
import type { CallOutcome, CallTracer, ConcurrencyGate } from "./parts.ts";
import type { Reporter } from "./report.ts";
import type { Clock } from "../core/clock.ts";

/** A permit the call holds until it settles. */
export interface Permit {
  release(): void;
}

/**
 * Waits in the bulkhead's queue (no permit was free). With a deadline, the wait is bounded by aborting
 * it at the deadline (rather than passing a shorter queue timeout), so the
 * call ends as `deadline_exceeded` and the bulkhead does not also report a
 * queue timeout. Only queued calls pay for the timer.
 */
export async function waitForPermit(
  engine: { readonly report: Reporter; readonly clock: Clock },
  bulkhead: ConcurrencyGate,
  signal: AbortSignal | undefined,
  deadline: number,
  tracer: CallTracer,
): Promise<Permit> {
  const { report, clock } = engine;
  let waitSignal = signal;
  let timer: TimerId | undefined;
  if (deadline !== Infinity) {
    const controller = new AbortController();
    timer = timerAt(
      clock,
      () => controller.abort(report.deadlineError(0, deadline, undefined)),
      clock.setTimerAt === undefined ? clock.now() : NaN,
      deadline,
    );
    waitSignal = signal === undefined
      ? controller.signal
      : AbortSignal.any([signal, controller.signal]);
  }
  try {
    report.cause = tracer;
    const pending = bulkhead.acquire({ signal: waitSignal });
    report.cause = undefined;
    return await pending;
  } catch (error) {
    if (error instanceof DeadlineExceededError && !signal?.aborted) {
      throw report.deadlineExceeded(tracer, 0, deadline, undefined, undefined, clock.now());
    }
    throw error;
  } finally {
    report.cause = undefined;
    if (timer !== undefined) clock.clearTimer(timer);
  }
}

/** How a call that got no permit ends (`error` is what {@link waitForPermit} threw). */
export function noPermitOutcome(error: unknown, signal: AbortSignal | undefined): CallOutcome {
  if (signal?.aborted) return "cancelled";
  return error instanceof DeadlineExceededError ? "deadline_exceeded" : "bulkhead_rejected";
}
