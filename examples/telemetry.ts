/**
 * Telemetry in action: a retried call, a failure budget that is breached and
 * a circuit breaker that trips, as OpenTelemetry spans and metrics.
 *
 * With Deno's built-in SDK, exporting OTLP/HTTP to a local Jaeger:
 *
 *   OTEL_DENO=true OTEL_SERVICE_NAME=bulwark-example \
 *     OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 \
 *     deno run examples/telemetry.ts
 *
 * Without OTEL_DENO it runs the same and records nothing (the API is a no-op).
 */
import { constant, policy, TransientError } from "../mod.ts";

const inventory = policy("inventory", {
  deadlineMs: 2_000,
  retry: { maxAttempts: 3, budgets: { transient: 2 }, backoff: constant(20) },
  circuit: { kind: "consecutive", threshold: 3, breakMs: 5_000 },
  // Breached as soon as 3 attempts are in and more than 30% of them failed.
  failureBudget: { threshold: 0.3, windowMs: 60_000, minSamples: 3 },
});

// 1. A call that fails twice, then succeeds: one call span, three attempt spans,
//    two bulwark.retry events.
let attempts = 0;
const value = await inventory.execute(({ attempt }) => {
  attempts++;
  if (attempt < 3) throw new TransientError(`inventory service hiccup #${attempt}`);
  return "42 widgets";
});
console.log(`retried call: ${value} after ${attempts} attempts`);
console.log(`failure budget breached: ${inventory.failureBudget?.isBreached()}`);

// 2. A call that keeps failing: its third failure in a row opens the circuit
//    (a bulwark.circuit.transition span linked to this call).
try {
  await inventory.execute(() => Promise.reject(new TransientError("inventory service down")));
} catch (error) {
  console.log(`failing call: ${(error as Error).name}`);
}
console.log(`circuit: ${inventory.circuit?.state}`);

// 3. The open circuit rejects the next call without running it.
try {
  await inventory.execute(() => "never runs");
} catch (error) {
  console.log(`rejected call: ${(error as Error).name}`);
}

// 4. A hedged call: the first attempt hangs, a second starts beside it after
//    5 ms and wins; the first one's signal aborts. Two overlapping attempt
//    spans under one call span, the second with bulwark.attempt.hedge = true.
const search = policy("search", { deadlineMs: 2_000, hedge: { delayMs: 5 } });
const hit = await search.execute(({ attempt, signal }) =>
  attempt === 1
    ? new Promise<string>((_, reject) =>
      signal.addEventListener("abort", () => reject(signal.reason))
    )
    : "hit"
);
console.log(`hedged call: ${hit}`);
