/**
 * Telemetry on: the full policy with the npm OpenTelemetry SDK's
 * `TracerProvider` and `MeterProvider` passed in `telemetry`, in span modes
 * `"full"` (a call span and an attempt span per call), `"failures"` (no span
 * for a call that succeeds at once; metrics only) and `"off"`. Measured in the
 * same run: one bare SDK span (`tracer.startSpan("x").end()`), one bare
 * counter `add` and one bare histogram `record`, and what a user would write
 * by hand without Bulwark (the floors of issue 17's targets): a bare call
 * timed into one histogram record, and `tracer.startActiveSpan` around a
 * p-retry call plus one histogram record.
 *
 * Setup, as an application using the npm SDK would have it: an
 * `AsyncLocalStorageContextManager` registered globally (what nests a fetch
 * span under the attempt span), the SDK's default always-on sampler, a span
 * processor that drops ended spans (exporting is not Bulwark's cost), and a
 * pull metric reader that is never collected.
 *
 * @module
 */
import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { type SpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { policy } from "../mod.ts";
import { fn, FULL, handInstrumented } from "./_shared.ts";

const group = "telemetry";

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

/** Counts ended spans and drops them. */
class DropProcessor implements SpanProcessor {
  ended = 0;
  onStart(): void {}
  onEnd(): void {
    this.ended++;
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

class PullReader extends MetricReader {
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

const processor = new DropProcessor();
const tracerProvider = new TracerProvider({ spanProcessors: [processor] });
const meterProvider = new MeterProvider({ readers: [new PullReader()] });

const withSpans = (spans: "full" | "failures" | "off") =>
  policy(`full-${spans}`, { ...FULL, telemetry: { tracerProvider, meterProvider, spans } });
const spansFull = withSpans("full");
const spansFailures = withSpans("failures");
const spansOff = withSpans("off");
const noTelemetry = policy("full-no-telemetry", { ...FULL, telemetry: false });

const tracer = tracerProvider.getTracer("bench");
const counter = meterProvider.getMeter("bench").createCounter("bench.calls");
const counterAttrs = { "bench.name": "x" };
const histogram = meterProvider.getMeter("bench").createHistogram("bench.duration", {
  unit: "s",
});
const histogramAttrs = { "bench.name": "x", "bench.outcome": "success" };

// Fail loudly if the setup records nothing: "full" makes two spans per call,
// "failures" none for a call that succeeds at once.
for (const [p, want] of [[spansFull, 2], [spansFailures, 0]] as const) {
  const before = processor.ended;
  await p.execute(fn);
  if (processor.ended - before !== want) {
    throw new Error(`${p.name}: expected ${want} spans per call, got ${processor.ended - before}`);
  }
}

Deno.bench({ name: "bare await fn()", group, baseline: true }, async () => {
  await fn();
});

Deno.bench({ name: 'one bare span: tracer.startSpan("x").end()', group }, () => {
  tracer.startSpan("x").end();
});

Deno.bench({ name: "one bare counter add", group }, () => {
  counter.add(1, counterAttrs);
});

Deno.bench({ name: "one bare histogram record (2 attributes)", group }, () => {
  histogram.record(0.000_1, histogramAttrs);
});

const hand = handInstrumented(tracer, meterProvider.getMeter("bench"));

Deno.bench({
  name: "hand-instrumented: bare call + one histogram record",
  group,
}, async () => {
  await hand.bare();
});

Deno.bench({
  name: "hand-instrumented: startActiveSpan around p-retry + one histogram record",
  group,
}, async () => {
  await hand.pRetry();
});

Deno.bench({
  name: 'hand-written: what "full" records (2 spans, 2 histograms, 1 counter), no engine',
  group,
}, async () => {
  await hand.full();
});

Deno.bench({ name: 'bulwark full policy, SDK, spans "full"', group }, async () => {
  await spansFull.execute(fn);
});

Deno.bench({ name: 'bulwark full policy, SDK, spans "failures"', group }, async () => {
  await spansFailures.execute(fn);
});

Deno.bench({ name: 'bulwark full policy, SDK, spans "off" (metrics only)', group }, async () => {
  await spansOff.execute(fn);
});

Deno.bench({ name: "bulwark full policy, telemetry: false", group }, async () => {
  await noTelemetry.execute(fn);
});
