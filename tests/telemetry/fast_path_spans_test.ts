// A traced call runs its first attempt on the fast path (no async frame) and
// must record exactly what the general loop records: these tests drive the
// fast path on a hand-moved timer wheel (the system clock's kind of timers,
// with clock time = wheel time + an origin) and on a virtual clock.
import assert from "node:assert/strict";
import { SpanStatusCode } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace";
import { constant, policy, type PolicyOptions, TransientError } from "../../mod.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { finish, flush, manual, track } from "../_wheel.ts";
import { histogramCount, histogramSum, hrMs, otelHarness } from "../_otel.ts";

const ORIGIN = 1_700_000_000_000;

function wheelPolicy(name: string, options: PolicyOptions, spans: "full" | "failures" = "full") {
  const otel = otelHarness();
  const m = manual(5, ORIGIN);
  const p = policy(name, {
    clock: m.clock,
    telemetry: { tracerProvider: otel.tracerProvider, meterProvider: otel.meterProvider, spans },
    ...options,
  });
  return { otel, m, p };
}

/** Span times in wheel ms (clock time minus the origin). */
function times(span: ReadableSpan): [number, number] {
  return [hrMs(span.startTime) - ORIGIN, hrMs(span.endTime) - ORIGIN];
}

Deno.test("a traced call that succeeds at once on the wheel: spans, times, active context, one duration", async () => {
  const { otel, m, p } = wheelPolicy("wheel-ok", { deadlineMs: 1_000, attemptTimeoutMs: 200 });
  const inner = otel.tracerProvider.getTracer("test");
  let resolve!: (v: string) => void;
  const call = track(p.execute(() => {
    inner.startSpan("fetch GET").end(); // made while the attempt span is active
    return new Promise<string>((r) => resolve = r);
  }));
  await m.at(1_003);
  resolve("ok");
  await flush();
  assert.equal(call.value, "ok");
  const spans = await otel.spans();
  const [callSpan] = spans.filter((s) => s.name === "wheel-ok");
  const [attempt] = spans.filter((s) => s.name === "wheel-ok attempt");
  const [fetchSpan] = spans.filter((s) => s.name === "fetch GET");
  assert.deepEqual(times(callSpan), [1_000, 1_003]);
  assert.deepEqual(times(attempt), [1_000, 1_003]);
  assert.equal(attempt.parentSpanContext?.spanId, callSpan.spanContext().spanId);
  assert.equal(fetchSpan.parentSpanContext?.spanId, attempt.spanContext().spanId);
  assert.equal(callSpan.attributes["bulwark.outcome"], "success");
  assert.equal(callSpan.attributes["bulwark.attempts"], 1);
  const rm = await otel.metrics();
  assert.equal(histogramCount(rm, "bulwark.call.duration", { "bulwark.outcome": "success" }), 1);
  assert.equal(histogramSum(rm, "bulwark.call.duration", { "bulwark.outcome": "success" }), 0.003);
  assert.equal(histogramCount(rm, "bulwark.attempt.duration", {}), 1);
  await finish(m.wheel);
  await otel.shutdown();
});

Deno.test("a first attempt that fails on the wheel hands its tracer to the loop: attempt 1 starts with the call", async () => {
  const { otel, m, p } = wheelPolicy("wheel-retry", {
    deadlineMs: 1_000,
    retry: { maxAttempts: 3, backoff: constant(0) },
  }, "failures");
  let n = 0;
  const rejecters: ((e: unknown) => void)[] = [];
  const call = track(p.execute(() => {
    n++;
    if (n === 1) return new Promise<string>((_, reject) => rejecters.push(reject));
    return Promise.resolve("second");
  }));
  await m.at(1_004);
  rejecters[0](new TransientError("blip"));
  await flush();
  assert.equal(call.value, "second");
  const spans = await otel.spans();
  const [callSpan] = spans.filter((s) => s.name === "wheel-retry");
  const attempts = spans.filter((s) => s.name === "wheel-retry attempt")
    .sort((a, b) =>
      (a.attributes["bulwark.attempt"] as number) - (b.attributes["bulwark.attempt"] as number)
    );
  assert.deepEqual(times(callSpan), [1_000, 1_004]);
  assert.deepEqual(attempts.map(times), [[1_000, 1_004], [1_004, 1_004]]);
  assert.equal(attempts[0].attributes["bulwark.error.class"], "transient");
  assert.equal(callSpan.attributes["bulwark.attempts"], 2);
  assert.deepEqual(callSpan.events.map((e) => [e.name, hrMs(e.time) - ORIGIN]), [[
    "bulwark.retry",
    1_004,
  ]]);
  await finish(m.wheel);
  await otel.shutdown();
});

Deno.test("the attempt timeout fires on a traced fast-path call: the loop ends its span and the call", async () => {
  const { otel, m, p } = wheelPolicy("wheel-timeout", {
    attemptTimeoutMs: 20,
    retry: { maxAttempts: 1 },
  });
  const call = track(p.execute(() => new Promise<string>(() => {})));
  for (let t = 1_005; t <= 1_030; t += 5) await m.at(t);
  assert.ok(call.error instanceof Error, "the call failed");
  const spans = await otel.spans();
  const [callSpan] = spans.filter((s) => s.name === "wheel-timeout");
  const [attempt] = spans.filter((s) => s.name === "wheel-timeout attempt");
  assert.equal(callSpan.attributes["bulwark.outcome"], "max_attempts_exceeded");
  assert.equal(attempt.attributes["bulwark.error.class"], "transient");
  assert.equal(attempt.attributes["error.type"], "AttemptTimeoutError");
  assert.equal(times(attempt)[0], 1_000);
  assert.ok(times(attempt)[1] >= 1_020 && times(attempt)[1] <= 1_030, `${times(attempt)}`);
  assert.ok(callSpan.events.some((e) => e.name === "bulwark.attempt_timeout"));
  await finish(m.wheel);
  await otel.shutdown();
});

Deno.test("a classifier that throws or answers no class on the traced fast path ends both spans", async () => {
  for (
    const [label, classify, errorType] of [
      ["throws", () => {
        throw new RangeError("bad classifier");
      }, "RangeError"],
      ["no class", () => "maybe", "TypeError"],
    ] as const
  ) {
    const otel = otelHarness();
    const clock = new VirtualClock(ORIGIN);
    const p = policy("classified", {
      clock,
      classify: classify as () => "success",
      telemetry: { tracerProvider: otel.tracerProvider, meterProvider: otel.meterProvider },
    });
    await assert.rejects(p.execute(() => "value"), (e: Error) => e.name === errorType, label);
    const spans = await otel.spans();
    const [callSpan] = spans.filter((s) => s.name === "classified");
    const [attempt] = spans.filter((s) => s.name === "classified attempt");
    assert.ok(attempt !== undefined, `${label}: the attempt span ended`);
    assert.equal(attempt.attributes["bulwark.error.class"], "unknown", label);
    assert.equal(attempt.attributes["error.type"], errorType, label);
    assert.equal(callSpan.attributes["bulwark.outcome"], "permanent_fail", label);
    assert.equal(callSpan.attributes["error.type"], errorType, label);
    assert.equal(callSpan.status.code, SpanStatusCode.ERROR, label);
    const rm = await otel.metrics();
    assert.equal(
      histogramCount(rm, "bulwark.call.duration", { "bulwark.outcome": "permanent_fail" }),
      1,
      label,
    );
    await otel.shutdown();
  }
});
