/**
 * Bulwark's telemetry through the npm OpenTelemetry SDK (`@opentelemetry/sdk-node`'s
 * `NodeSDK`) instead of Deno's built-in one: spans and metrics go out as
 * OTLP/HTTP JSON to `OTEL_EXPORTER_OTLP_ENDPOINT` (default
 * `http://localhost:4318`, where Jaeger v2 listens; see docs/telemetry.md).
 *
 *   deno run --config dev/deno.json --allow-net=127.0.0.1,localhost --allow-env examples/telemetry_sdk_node.ts
 *
 * Permissions:
 * - `--allow-net` for the OTLP endpoint's host (`localhost` for the default;
 *   add yours if it is elsewhere).
 * - `--allow-env`, all of it: the SDK reads many `OTEL_*` variables, and
 *   sdk-node imports `@grpc/grpc-js` (for its gRPC exporters), which reads
 *   `GRPC_*` variables as it loads.
 * - No `--allow-read`, `--allow-sys` or `--allow-run`: resource detection
 *   (host, OS, process) is off, so the resource is `service.name`
 *   (`OTEL_SERVICE_NAME`, default `bulwark-sdk-node-example`) plus the SDK's
 *   defaults.
 *
 * Leave `OTEL_DENO` unset: with it Deno registers its built-in SDK before this
 * code runs, NodeSDK's registration is refused and these exporters get nothing.
 * Exits 1 if the endpoint cannot be reached when flushing.
 */
import { NodeSDK } from "@opentelemetry/sdk-node";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http";
import { PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { constant, policy, TransientError } from "../mod.ts";

if (Deno.env.get("OTEL_DENO") === "true") {
  console.error("OTEL_DENO=true registers Deno's built-in SDK first; unset it for this example");
}

const endpoint = (Deno.env.get("OTEL_EXPORTER_OTLP_ENDPOINT") ?? "http://localhost:4318")
  .replace(/\/+$/, "");

// 1. Register the SDK first: a policy looks up its meter when it is created.
const sdk = new NodeSDK({
  serviceName: Deno.env.get("OTEL_SERVICE_NAME") ?? "bulwark-sdk-node-example",
  autoDetectResources: false,
  traceExporter: new OTLPTraceExporter({ url: `${endpoint}/v1/traces` }),
  metricReaders: [
    new PeriodicExportingMetricReader({
      exporter: new OTLPMetricExporter({ url: `${endpoint}/v1/metrics` }),
      exportIntervalMillis: 10_000,
      exportTimeoutMillis: 5_000,
    }),
  ],
  logRecordProcessors: [], // Bulwark logs nothing; don't set up an OTLP log exporter.
});
sdk.start();

// 2. A policy with retries and a circuit breaker that opens after 4 failed
//    attempts in a row.
const inventory = policy("inventory", {
  deadlineMs: 2_000,
  retry: { maxAttempts: 3, backoff: constant(20) },
  circuit: { kind: "consecutive", threshold: 4, breakMs: 30_000 },
});

const outcomes: string[] = [];

// 3. Fails twice, then succeeds: one call span, three attempt spans, two
//    bulwark.retry span events.
const value = await inventory.execute(({ attempt }) => {
  if (attempt < 3) throw new TransientError(`inventory service hiccup #${attempt}`);
  return "42 widgets";
});
outcomes.push(`success (${value})`);

// 4. Three calls to a dead dependency: the first gives up after 3 attempts,
//    the second's first failure opens the circuit (a bulwark.circuit.transition
//    span linked to that call) and its retry is refused, the third is refused
//    without running.
for (let i = 0; i < 3; i++) {
  try {
    await inventory.execute(() => Promise.reject(new TransientError("inventory service down")));
    outcomes.push("success");
  } catch (error) {
    outcomes.push((error as Error).name);
  }
}

console.log(`calls: ${outcomes.join(", ")}`);
console.log(`circuit: ${inventory.circuit?.state}`);

// 5. Flush: shutdown exports the batched spans and a final metric collection,
//    and rejects when the endpoint cannot be reached.
try {
  await sdk.shutdown();
  console.log(`exported to ${endpoint} (OTLP/HTTP JSON)`);
} catch (error) {
  console.error(`could not export to ${endpoint}: ${(error as Error).message}`);
  console.error("is a collector listening? docker compose -f examples/jaeger/compose.yaml up");
  Deno.exitCode = 1;
}
