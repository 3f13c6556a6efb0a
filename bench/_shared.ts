/**
 * What the bench files share: the operation every bench calls, and the
 * options of the "full" policy (every part a policy can compose). Not a
 * bench file itself (`deno bench` only runs `*_bench.ts`).
 *
 * @module
 */

import { context, type Meter, trace, type Tracer } from "@opentelemetry/api";
import pRetry from "p-retry";
import { constant, type PolicyOptions } from "../mod.ts";

// The runtime's first `setInterval` in a process costs ~13 ms here (the
// timer wheel's first deadline pays it). Inside a bench's 10 ms warm-up that
// one call lifts the warm-up average above 10 µs, and `deno bench` then
// times every iteration on its own, adding its clock's cost to each: paid
// here, at load, instead.
clearInterval(setInterval(() => {}, 60_000));

/**
 * Runs each bench body `times` times at load, before `deno bench` measures
 * it: a first call that costs milliseconds (lazy compilation, a peer's
 * first timer) must not land in the harness's 10 ms warm-up, which would
 * then time every iteration on its own (see `timedPerIteration` in
 * scripts/bench_report.ts).
 */
export async function warmUp(
  bodies: readonly (() => Promise<unknown>)[],
  times = 100,
): Promise<void> {
  for (const body of bodies) for (let i = 0; i < times; i++) await body();
}

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
 * What a user writes by hand with the OpenTelemetry API instead of Bulwark,
 * given a tracer and a meter (the floors of issue 17's telemetry targets):
 *
 * - `bare`: the call timed into one histogram record;
 * - `pRetry`: `tracer.startActiveSpan` around a p-retry call plus one
 *   histogram record;
 * - `full`: what a policy in `spans: "full"` records for a call that
 *   succeeds at once, with no engine: a call span, an attempt span under it
 *   that is the active context while the operation runs, two duration
 *   histograms and one event counter, two attributes set at the end. The
 *   SDK's own floor for that much telemetry.
 */
export function handInstrumented(tracer: Tracer, meter: Meter): {
  bare: () => Promise<void>;
  pRetry: () => Promise<number>;
  full: () => Promise<number>;
} {
  const histogram = meter.createHistogram("bench.duration", { unit: "s" });
  const histogramAttrs = { "bench.name": "x", "bench.outcome": "success" };
  const pRetryOptions = { retries: 2, minTimeout: 10 };
  const call = meter.createHistogram("hand.call.duration", { unit: "s" });
  const attempt = meter.createHistogram("hand.attempt.duration", { unit: "s" });
  const events = meter.createCounter("hand.events");
  const callAttrs = { "bulwark.policy.name": "hand", "bulwark.outcome": "success" };
  const attemptAttrs = { "bulwark.policy.name": "hand", "bulwark.attempt.outcome": "success" };
  const eventAttrs = { "bulwark.policy.name": "hand", "bulwark.event": "success" };
  const spanAttrs = { "bulwark.policy.name": "hand" };
  const attemptSpanAttrs = { "bulwark.attempt": 1 };
  return {
    bare: async () => {
      const start = performance.now();
      await fn();
      histogram.record((performance.now() - start) / 1000, histogramAttrs);
    },
    pRetry: () =>
      tracer.startActiveSpan("call", async (span) => {
        const start = performance.now();
        try {
          return await pRetry(fn, pRetryOptions);
        } finally {
          histogram.record((performance.now() - start) / 1000, histogramAttrs);
          span.end();
        }
      }),
    full: async () => {
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
    },
  };
}
