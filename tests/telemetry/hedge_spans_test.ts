// The spans and metrics of a hedged call through the OTel SDK's in-memory
// exporter: overlapping attempt spans under one call span (DESIGN.md §6, §3).
import assert from "node:assert/strict";
import type { ReadableSpan } from "@opentelemetry/sdk-trace";
import { policy } from "../../src/policy/policy.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import type { AttemptContext } from "../../src/engine/attempt.ts";
import { TransientError } from "../../src/classify/markers.ts";
import { counterValue, hrMs, otelHarness } from "../_otel.ts";

const T0 = 1_700_000_000_000;

Deno.test("a hedged call: one call span, overlapping attempt spans marked hedge and cancelled", async () => {
  const otel = otelHarness();
  try {
    const clock = new VirtualClock(T0);
    const p = policy("search", {
      clock,
      telemetry: { tracerProvider: otel.tracerProvider, meterProvider: otel.meterProvider },
      hedge: { delayMs: 10, maxHedges: 2 },
    });
    const latency = [100, 100, 15];
    const call = p.execute(async ({ attempt, signal }: AttemptContext) => {
      await clock.sleep(latency[attempt - 1], signal);
      return `r${attempt}`;
    });
    await clock.runAll();
    assert.equal(await call, "r3");

    const spans = await otel.spans();
    const [callSpan] = spans.filter((s) => s.name === "search");
    assert.deepEqual(callSpan.attributes, {
      "bulwark.policy.name": "search",
      "bulwark.attempts": 3,
      "bulwark.outcome": "success",
    });
    assert.equal(hrMs(callSpan.startTime), T0);
    assert.equal(hrMs(callSpan.endTime), T0 + 35);
    const attempts = spans
      .filter((s) => s.name === "search attempt")
      .sort((a, b) => hrMs(a.startTime) - hrMs(b.startTime));
    const summary = (s: ReadableSpan) => ({
      start: hrMs(s.startTime) - T0,
      end: hrMs(s.endTime) - T0,
      parent: s.parentSpanContext?.spanId === callSpan.spanContext().spanId,
      attributes: s.attributes,
    });
    assert.deepEqual(attempts.map(summary), [
      {
        start: 0,
        end: 35,
        parent: true,
        attributes: { "bulwark.attempt": 1, "bulwark.attempt.cancelled": true },
      },
      {
        start: 10,
        end: 35,
        parent: true,
        attributes: {
          "bulwark.attempt": 2,
          "bulwark.attempt.hedge": true,
          "bulwark.attempt.cancelled": true,
        },
      },
      {
        start: 20,
        end: 35,
        parent: true,
        attributes: { "bulwark.attempt": 3, "bulwark.attempt.hedge": true },
      },
    ]);
    const hedgeEvents = callSpan.events.filter((e) => e.name === "bulwark.hedge");
    assert.deepEqual(
      hedgeEvents.map((e) => [hrMs(e.time!) - T0, e.attributes]),
      [
        [10, { "bulwark.attempt": 2, "bulwark.hedge.delay_ms": 10 }],
        [20, { "bulwark.attempt": 3, "bulwark.hedge.delay_ms": 10 }],
      ],
    );
    const metrics = await otel.metrics();
    assert.equal(
      counterValue(metrics, "bulwark.events", {
        "bulwark.policy.name": "search",
        "bulwark.event": "hedge",
      }),
      2,
    );
  } finally {
    await otel.shutdown();
  }
});

Deno.test('spans: "failures": a hedge failing beside a running attempt creates every open attempt\'s span, with its hedge flag and the early hedge events', async () => {
  const otel = otelHarness();
  try {
    const clock = new VirtualClock(T0);
    const p = policy("search", {
      clock,
      telemetry: {
        tracerProvider: otel.tracerProvider,
        meterProvider: otel.meterProvider,
        spans: "failures",
      },
      hedge: { delayMs: 10, maxHedges: 1 },
    });
    const call = p.execute(async ({ attempt, signal }: AttemptContext) => {
      await clock.sleep(attempt === 2 ? 5 : 100, signal);
      if (attempt === 2) throw new TransientError("hedge failed");
      return `r${attempt}`;
    });
    await clock.runAll();
    assert.equal(await call, "r1");
    const spans = await otel.spans();
    const [callSpan] = spans.filter((s) => s.name === "search");
    assert.equal(hrMs(callSpan.startTime), T0);
    assert.deepEqual(
      callSpan.events.map((e) => [e.name, hrMs(e.time!) - T0]),
      [["bulwark.hedge", 10], ["bulwark.hedge", 20]],
    );
    const attempts = spans
      .filter((s) => s.name === "search attempt")
      .map((s) => ({
        attempt: s.attributes["bulwark.attempt"],
        start: hrMs(s.startTime) - T0,
        end: hrMs(s.endTime) - T0,
        hedge: s.attributes["bulwark.attempt.hedge"] ?? false,
        cancelled: s.attributes["bulwark.attempt.cancelled"] ?? false,
        errorClass: s.attributes["bulwark.error.class"],
      }))
      .sort((a, b) => Number(a.attempt) - Number(b.attempt));
    assert.deepEqual(attempts, [
      { attempt: 1, start: 0, end: 100, hedge: false, cancelled: false, errorClass: undefined },
      { attempt: 2, start: 10, end: 15, hedge: true, cancelled: false, errorClass: "transient" },
      { attempt: 3, start: 20, end: 100, hedge: true, cancelled: true, errorClass: undefined },
    ]);
  } finally {
    await otel.shutdown();
  }
});
