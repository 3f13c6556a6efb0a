/**
 * What the bench files share: the operation every bench calls, and the
 * options of the "full" policy (every part a policy can compose). Not a
 * bench file itself (`deno bench` only runs `*_bench.ts`).
 *
 * @module
 */

import { context, type Meter, trace, type Tracer } from "@opentelemetry/api";
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

/**
 * What a policy in `spans: "full"` records for a call that succeeds at once,
 * written by hand with the OpenTelemetry API and no engine: a call span, an
 * attempt span under it that is the active context while the operation
 * runs, two duration histograms and one event counter, two attributes set
 * at the end. The SDK's own floor for that much telemetry.
 */
export function handWrittenFull(tracer: Tracer, meter: Meter): () => Promise<number> {
  const call = meter.createHistogram("hand.call.duration", { unit: "s" });
  const attempt = meter.createHistogram("hand.attempt.duration", { unit: "s" });
  const events = meter.createCounter("hand.events");
  const callAttrs = { "bulwark.policy.name": "hand", "bulwark.outcome": "success" };
  const attemptAttrs = { "bulwark.policy.name": "hand", "bulwark.attempt.outcome": "success" };
  const eventAttrs = { "bulwark.policy.name": "hand", "bulwark.event": "success" };
  const spanAttrs = { "bulwark.policy.name": "hand" };
  const attemptSpanAttrs = { "bulwark.attempt": 1 };
  return async () => {
    const parent = context.active();
    const start = performance.now();
    const callSpan = tracer.startSpan("hand", { attributes: spanAttrs }, parent);
    const callContext = trace.setSpan(parent, callSpan);
    const attemptSpan = tracer.startSpan(
      "hand attempt",
      { attributes: attemptSpanAttrs },
      callContext,
    );
    const value = await context.with(trace.setSpan(callContext, attemptSpan), fn);
    const seconds = (performance.now() - start) / 1000;
    attemptSpan.end();
    attempt.record(seconds, attemptAttrs);
    events.add(1, eventAttrs);
    call.record(seconds, callAttrs);
    callSpan.setAttribute("bulwark.attempts", 1);
    callSpan.setAttribute("bulwark.outcome", "success");
    callSpan.end();
    return value;
  };
}
