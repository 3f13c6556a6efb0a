/**
 * What the bench files share: the operation every bench calls, and the
 * options of the "full" policy (every part a policy can compose). Not a
 * bench file itself (`deno bench` only runs `*_bench.ts`).
 *
 * @module
 */

import { constant, type PolicyOptions } from "../mod.ts";

/**
 * The operation: an already-resolved promise, created once so that no bench
 * pays for allocating the function.
 */
export const fn = (): Promise<number> => Promise.resolve(42);

/** Retry only: three attempts, constant backoff (never used on the success path). */
export const RETRY_ONLY: PolicyOptions = {
  retry: { maxAttempts: 3, backoff: constant(10) },
};

/**
 * Every part: a deadline, a per-attempt timeout, retries, a consecutive
 * circuit breaker, a failure budget and a bulkhead.
 */
export const FULL: PolicyOptions = {
  deadlineMs: 2_000,
  attemptTimeoutMs: 500,
  retry: { maxAttempts: 3, backoff: constant(10) },
  circuit: { kind: "consecutive", threshold: 5, breakMs: 30_000 },
  failureBudget: { threshold: 0.6, windowMs: 30_000, minSamples: 50 },
  bulkhead: { maxConcurrent: 10, maxQueue: 100 },
};
