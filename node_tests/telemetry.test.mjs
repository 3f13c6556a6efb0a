// OpenTelemetry on Node through the npm SDK: the call and attempt spans,
// their attributes and events as docs/telemetry.md names them, a user span
// nested under the attempt that made it (AsyncLocalStorage context manager),
// and the metrics read with a pull reader.
import { test } from "node:test";
import assert from "node:assert/strict";
import { context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { constant, policy, TransientError } from "@bulwark/bulwark";
import { VirtualClock } from "@bulwark/bulwark/testing";

/** A metric reader that reads on demand. */
class PullReader extends MetricReader {
  onShutdown() {
    return Promise.resolve();
  }
  onForceFlush() {
    return Promise.resolve();
  }
}

const ms = ([seconds, nanos]) => seconds * 1_000 + nanos / 1e6;

test("spans and metrics of a call that succeeds on its third attempt", async () => {
  context.setGlobalContextManager(
    new AsyncLocalStorageContextManager().enable(),
  );
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const reader = new PullReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const T0 = Date.UTC(2026, 0, 1); // span times are epoch milliseconds
  const clock = new VirtualClock(T0);
  const payments = policy("payments", {
    clock,
    telemetry: { tracerProvider, meterProvider },
    retry: { maxAttempts: 3, backoff: constant(100) },
  });
  const app = tracerProvider.getTracer("app");
  try {
    const call = payments.execute(({ attempt }) => {
      if (attempt < 3) throw new TransientError(`down ${attempt}`);
      // A span the application starts inside the attempt: its parent is the attempt span.
      app.startSpan("fetch GET /charge").end();
      return "paid";
    });
    await clock.runAll();
    assert.equal(await call, "paid");

    await tracerProvider.forceFlush();
    const spans = exporter.getFinishedSpans();
    assert.deepEqual(spans.map((s) => s.name), [
      "payments attempt",
      "payments attempt",
      "fetch GET /charge",
      "payments attempt",
      "payments",
    ]);
    const [first, second, mine, third, callSpan] = spans;
    assert.deepEqual(callSpan.attributes, {
      "bulwark.policy.name": "payments",
      "bulwark.attempts": 3,
      "bulwark.outcome": "success",
    });
    assert.deepEqual(
      callSpan.events.map((e) => [e.name, ms(e.time) - T0, e.attributes]),
      [
        ["bulwark.retry", 0, {
          "bulwark.attempt": 1,
          "bulwark.error.class": "transient",
          "bulwark.retry.delay_ms": 100,
        }],
        ["bulwark.retry", 100, {
          "bulwark.attempt": 2,
          "bulwark.error.class": "transient",
          "bulwark.retry.delay_ms": 100,
        }],
      ],
    );
    for (const [span, attempt] of [[first, 1], [second, 2]]) {
      assert.deepEqual(span.attributes, {
        "bulwark.attempt": attempt,
        "bulwark.error.class": "transient",
        "error.type": "TransientError",
      });
      assert.equal(span.status.code, 2); // ERROR
    }
    assert.deepEqual(third.attributes, { "bulwark.attempt": 3 });
    // Bulwark's spans are timed on the policy's clock (the application's span on the SDK's).
    assert.deepEqual(
      [first, second, third, callSpan].map((
        s,
      ) => [ms(s.startTime) - T0, ms(s.endTime) - T0]),
      [[0, 0], [100, 100], [200, 200], [0, 200]],
    );
    // The tree: attempts under the call span, the application's span under attempt 3.
    const callId = callSpan.spanContext().spanId;
    for (const attempt of [first, second, third]) {
      assert.equal(attempt.parentSpanContext?.spanId, callId);
    }
    assert.equal(mine.parentSpanContext?.spanId, third.spanContext().spanId);
    assert.equal(new Set(spans.map((s) => s.spanContext().traceId)).size, 1);

    const { resourceMetrics } = await reader.collect();
    const metrics = new Map(
      resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics).map((
        m,
      ) => [
        m.descriptor.name,
        m.dataPoints,
      ]),
    );
    const callDuration = metrics.get("bulwark.call.duration");
    assert.equal(callDuration.length, 1);
    assert.deepEqual(callDuration[0].attributes, {
      "bulwark.policy.name": "payments",
      "bulwark.outcome": "success",
    });
    assert.equal(callDuration[0].value.count, 1);
    assert.equal(callDuration[0].value.sum, 0.2); // seconds
    const attempts = metrics.get("bulwark.attempt.duration").map((p) => [
      p.attributes["bulwark.attempt.outcome"],
      p.attributes["bulwark.error.class"],
      p.value.count,
    ]).sort();
    assert.deepEqual(attempts, [["failure", "transient", 2], [
      "success",
      undefined,
      1,
    ]]);
    const events = metrics.get("bulwark.events").map((
      p,
    ) => [p.attributes["bulwark.event"], p.value])
      .sort();
    assert.deepEqual(events, [["retry", 2], ["success", 1]]);
    const delays = metrics.get("bulwark.retry.delay");
    assert.equal(delays.length, 1);
    assert.equal(delays[0].value.count, 2);
    assert.equal(delays[0].value.sum, 0.2);
  } finally {
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
    context.disable();
  }
});

test("without telemetry options the globally registered providers are used", async () => {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  trace.setGlobalTracerProvider(tracerProvider);
  try {
    const api = policy("global-node", { retry: { maxAttempts: 1 } });
    assert.equal(await api.execute(() => 7), 7);
    await tracerProvider.forceFlush();
    assert.deepEqual(
      exporter.getFinishedSpans().map((
        s,
      ) => [s.name, s.attributes["bulwark.outcome"]]),
      [["global-node attempt", undefined], ["global-node", "success"]],
    );
  } finally {
    trace.disable();
    await tracerProvider.shutdown();
  }
});
