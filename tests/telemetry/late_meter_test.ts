// A policy built before the global meter provider is registered must record
// metrics once it is (issue 17 "late binding"; docs/telemetry.md: a custom
// tracerProvider may be mixed with the global meter). Also the failure-rate
// gauge, which is registered with the meter only when the observer finds it.
import assert from "node:assert/strict";
import { metrics, trace } from "@opentelemetry/api";
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { policy, TransientError } from "../../mod.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { counterValue, histogramCount, points, PullReader } from "../_otel.ts";

Deno.test("explicit tracerProvider + global meter registered after the policy was built", async () => {
  const tracerProvider = new TracerProvider({
    spanProcessors: [new SimpleSpanProcessor({ exporter: new InMemorySpanExporter() })],
  });
  const clock = new VirtualClock(1_700_000_000_000);
  const p = policy("late-meter", {
    clock,
    retry: { maxAttempts: 1 },
    failureBudget: { threshold: 0.5, windowMs: 60_000, minSamples: 1 },
    telemetry: { tracerProvider },
  });
  await p.execute(() => "before"); // no meter yet
  const reader = new PullReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  metrics.setGlobalMeterProvider(meterProvider);
  try {
    for (let i = 0; i < 1_100; i++) await p.execute(() => "after");
    await p.execute(() => Promise.reject(new TransientError("t"))).catch(() => {});
    const { resourceMetrics: rm } = await reader.collect();
    assert.ok(
      histogramCount(rm, "bulwark.call.duration", { "bulwark.policy.name": "late-meter" }) > 0,
      "call durations recorded after the meter was registered",
    );
    assert.ok(
      counterValue(rm, "bulwark.events", { "bulwark.event": "max_attempts_exceeded" }) >= 0,
    );
    assert.equal(
      points(rm, "bulwark.failure_budget.rate").length,
      1,
      "the failure-rate gauge reads the budget",
    );
  } finally {
    metrics.disable();
    await meterProvider.shutdown();
    await tracerProvider.shutdown();
    await new Promise((r) => setTimeout(r, 0));
  }
});

Deno.test("global tracer registered first, global meter registered after the policy was built", async () => {
  const tracerProvider = new TracerProvider({
    spanProcessors: [new SimpleSpanProcessor({ exporter: new InMemorySpanExporter() })],
  });
  assert.ok(trace.setGlobalTracerProvider(tracerProvider));
  const reader = new PullReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  try {
    const clock = new VirtualClock(1_700_000_000_000);
    const p = policy("late-meter-2", { clock, retry: { maxAttempts: 1 } });
    await p.execute(() => "before"); // traced; no meter yet
    metrics.setGlobalMeterProvider(meterProvider);
    for (let i = 0; i < 3_000; i++) await p.execute(() => "after");
    const { resourceMetrics: rm } = await reader.collect();
    assert.ok(
      histogramCount(rm, "bulwark.call.duration", { "bulwark.policy.name": "late-meter-2" }) > 0,
      "call durations recorded after the meter was registered",
    );
  } finally {
    metrics.disable();
    trace.disable();
    await meterProvider.shutdown();
    await tracerProvider.shutdown();
    await new Promise((r) => setTimeout(r, 0));
  }
});

Deno.test("no SDK when built; a global meter later: the failure-rate gauge reads the budget", async () => {
  const reader = new PullReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  try {
    const clock = new VirtualClock(1_700_000_000_000);
    const p = policy("late-gauge", {
      clock,
      retry: { maxAttempts: 1 },
      failureBudget: { threshold: 0.9, windowMs: 60_000, minSamples: 1 },
    });
    await p.execute(() => "before");
    metrics.setGlobalMeterProvider(meterProvider);
    for (let i = 0; i < 3_000; i++) await p.execute(() => "after");
    await p.execute(() => Promise.reject(new TransientError("t"))).catch(() => {});
    const { resourceMetrics: rm } = await reader.collect();
    assert.ok(
      histogramCount(rm, "bulwark.call.duration", { "bulwark.policy.name": "late-gauge" }) > 0,
    );
    assert.equal(points(rm, "bulwark.failure_budget.rate").length, 1);
  } finally {
    metrics.disable();
    await meterProvider.shutdown();
  }
});
