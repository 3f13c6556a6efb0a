/**
 * Admission (phase 2 of a call): what a call passes before its first
 * attempt, in order: the failure budget (when it rejects calls while
 * breached), the rate limiter's token (`rate_token.ts`), the bulkhead
 * permit (`permit.ts`), and the retry budget's count of calls. The loop and
 * the hedged call both admit their calls here; the fast path takes the same
 * steps without waiting and hands a call that would wait to the loop.
 *
 * @module
 */

import { FailureBudgetExceededError, RateLimitedError } from "../core/errors.ts";
import type { Engine } from "./engine.ts";
import type { CallOutcome, CallTracer } from "./parts.ts";
import { noPermitOutcome, type Permit, waitForPermit } from "./permit.ts";
import { takeToken } from "./rate_token.ts";
import { budgetBreached } from "./record.ts";

/** What admission hands the call: its permit, and whether it waited for it. */
export interface Admitted {
  /** The bulkhead permit (undefined without a bulkhead). */
  readonly permit: Permit | undefined;
  /** True when the call waited (for a token or a permit): time passed. */
  readonly waited: boolean;
}

const NOTHING_TAKEN: Admitted = Object.freeze({ permit: undefined, waited: false });

/**
 * Admits a call, or throws what it is refused with:
 * `FailureBudgetExceededError`, `RateLimitedError`, `BulkheadRejectedError`,
 * `DeadlineExceededError` (the deadline passed while it waited) or the
 * caller's abort reason. {@link refusalOutcome} names the call's outcome.
 */
export async function admitCall(
  engine: Engine,
  signal: AbortSignal | undefined,
  deadline: number,
  tracer: CallTracer,
): Promise<Admitted> {
  const report = engine.report;
  const budget = engine.failureBudget;
  if (budget?.action === "reject" && budgetBreached(engine, budget, tracer)) {
    throw report.budgetBreached(budget);
  }
  let waited = false;
  const limiter = engine.rateLimiter;
  if (limiter !== undefined && !limiter.tryAcquire()) {
    await takeToken(engine, limiter, signal, deadline, tracer);
    waited = true;
  }
  let permit: Permit | undefined;
  const bulkhead = engine.bulkhead;
  if (bulkhead !== undefined) {
    permit = bulkhead.tryAcquire();
    if (permit === undefined) {
      permit = await waitForPermit(engine, bulkhead, signal, deadline, tracer);
      waited = true;
    }
  }
  engine.retryBudget?.recordRequest();
  return permit === undefined && !waited ? NOTHING_TAKEN : { permit, waited };
}

/** The outcome of a call that admission refused with `error`. */
export function refusalOutcome(error: unknown, signal: AbortSignal | undefined): CallOutcome {
  if (signal?.aborted) return "cancelled";
  if (error instanceof FailureBudgetExceededError) return "failure_budget_exceeded";
  if (error instanceof RateLimitedError) return "rate_limited";
  return noPermitOutcome(error, signal);
}
