/**
 * Telemetry through Deno's built-in OpenTelemetry SDK (`OTEL_DENO=true`),
 * the Deno Deploy case: the full policy in span modes `"full"`,
 * `"failures"` and `"off"` beside what a user would write by hand with the
 * same SDK (the floors of issue 17's targets), in one run. Deno registers
 * its tracer, meter and context manager before any code runs, so the
 * policies use the global providers (the default `telemetry`).
 *
 * Without `OTEL_DENO=true` these benches are skipped (the API would be a
 * no-op); `deno task bench:report` runs this file a second time with it set,
 * exporting to a local sink.
 *
 * This SDK's cost drifts within a run (later benches measured slower, as
 * its export pipeline fills), so every body first runs 2,000 times, and
 * the hand-written equivalent of `"full"` is measured both before and
 * after Bulwark's `"full"`: `bench:report` divides by the mean of the two.
 *
 * ```sh
 * OTEL_DENO=true OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \
 *   deno bench --config dev/deno.json --allow-env --allow-net=127.0.0.1 bench/otel_deno_bench.ts
 * ```
 *
 * @module
 */
import { metrics, trace } from "@opentelemetry/api";
import { policy } from "../mod.ts";
import { fn, FULL, handInstrumented, warmUp } from "./_shared.ts";

const group = "telemetry (OTEL_DENO)";
const ignore = Deno.env.get("OTEL_DENO") !== "true";

const withSpans = (spans: "full" | "failures" | "off") =>
  policy(`deno-otel-${spans}`, { ...FULL, telemetry: { spans } });
const spansFull = withSpans("full");
const spansFailures = withSpans("failures");
const spansOff = withSpans("off");

const tracer = trace.getTracer("bench");

Deno.bench({ name: "bare await fn()", group, baseline: true, ignore }, async () => {
  await fn();
});

const hand = handInstrumented(tracer, metrics.getMeter("bench"));
if (!ignore) {
  await warmUp([
    hand.bare,
    hand.pRetry,
    hand.full,
    () => spansFull.execute(fn),
    () => spansFailures.execute(fn),
    () => spansOff.execute(fn),
  ], 2_000);
}

Deno.bench({
  name: "hand-instrumented: bare call + one histogram record",
  group,
  ignore,
}, async () => {
  await hand.bare();
});

Deno.bench({
  name: "hand-instrumented: startActiveSpan around p-retry + one histogram record",
  group,
  ignore,
}, async () => {
  await hand.pRetry();
});

Deno.bench({
  name: 'hand-written: what "full" records (2 spans, 2 histograms, 1 counter), no engine',
  group,
  ignore,
}, async () => {
  await hand.full();
});

Deno.bench({ name: 'bulwark full policy, spans "full"', group, ignore }, async () => {
  await spansFull.execute(fn);
});

Deno.bench({
  name:
    'hand-written: what "full" records (2 spans, 2 histograms, 1 counter), no engine (again, after)',
  group,
  ignore,
}, async () => {
  await hand.full();
});

Deno.bench({ name: 'bulwark full policy, spans "failures"', group, ignore }, async () => {
  await spansFailures.execute(fn);
});

Deno.bench({ name: 'bulwark full policy, spans "off" (metrics only)', group, ignore }, async () => {
  await spansOff.execute(fn);
});
