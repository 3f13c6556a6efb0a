/**
 * The end of a call that gave up: its outcome reported, and whether its
 * `fallback` runs instead of the rejection (every give-up reason except the
 * caller's own abort).
 *
 * @module
 */

import type { ExecuteOptions, FallbackReason } from "./options.ts";
import type { CallOutcome, CallTracer } from "./parts.ts";
import type { Reporter } from "./report.ts";

/**
 * Reports that the call ends with `error` (`outcome`, after `attempts`
 * attempts) and returns true when its fallback is to run: the `fallback`
 * event is reported first, so the call span carries `bulwark.fallback`.
 */
export function endFailedCall(
  report: Reporter,
  tracer: CallTracer,
  options: ExecuteOptions<unknown> | undefined,
  outcome: CallOutcome,
  attempts: number,
  error: unknown,
): boolean {
  const falls = outcome !== "cancelled" && options?.fallback !== undefined;
  if (falls) report.fallback(tracer, outcome, attempts);
  report.callFailed(tracer, outcome, attempts, error);
  return falls;
}

/** Runs the call's fallback for a call that gave up with `error`. */
export function runFallback<T>(
  options: ExecuteOptions<T>,
  error: unknown,
  outcome: CallOutcome,
  attempts: number,
): T | PromiseLike<T> {
  return options.fallback!(error, { reason: outcome as FallbackReason, attempts });
}
