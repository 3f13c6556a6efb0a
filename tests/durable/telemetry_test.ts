import assert from "node:assert/strict";
import { EdgeBuffer } from "../../durable.ts";
import { counterValue, otelHarness, points } from "../_otel.ts";

Deno.test("EdgeBuffer telemetry: level gauges, drop counter by reason, one flush span with its figures", async () => {
  const otel = otelHarness();
  try {
    await using buffer = await EdgeBuffer.open<string>({
      path: ":memory:",
      name: "readings",
      maxSizeBytes: 30,
      telemetry: { tracerProvider: otel.tracerProvider, meterProvider: otel.meterProvider },
    });
    for (const c of "abcd") await buffer.enqueue(c.repeat(8)); // 10 bytes each: the 4th is refused
    let rm = await otel.metrics();
    const name = { "bulwark.buffer.name": "readings" };
    assert.deepEqual(points(rm, "bulwark.buffer.events").map((p) => [p.attributes, p.value]), [
      [name, 3],
    ]);
    assert.deepEqual(points(rm, "bulwark.buffer.bytes").map((p) => p.value), [30]);
    assert.equal(
      counterValue(rm, "bulwark.buffer.dropped", { ...name, "bulwark.buffer.drop_reason": "full" }),
      1,
    );
    const boom = new Error("collector down");
    await buffer.flush(
      (
        events,
      ) => (events[0] === "aaaaaaaa" && events.length === 2
        ? Promise.resolve()
        : Promise.reject(boom)),
      { batchSize: 2 },
    );
    assert.equal(await buffer.clear(), 1);
    rm = await otel.metrics();
    assert.deepEqual(points(rm, "bulwark.buffer.events").map((p) => p.value), [0]);
    assert.deepEqual(points(rm, "bulwark.buffer.bytes").map((p) => p.value), [0]);
    assert.equal(
      counterValue(rm, "bulwark.buffer.dropped", {
        ...name,
        "bulwark.buffer.drop_reason": "cleared",
      }),
      1,
    );
    const spans = await otel.spans();
    assert.deepEqual(spans.map((s) => [s.name, s.attributes, s.status.code]), [
      [
        "bulwark.buffer.flush",
        {
          "bulwark.buffer.name": "readings",
          "bulwark.buffer.sent": 2,
          "bulwark.buffer.remaining": 1,
          "error.type": "Error",
        },
        2,
      ],
    ]);
    assert.equal(spans[0]!.events[0]?.name, "exception");
  } finally {
    await otel.shutdown();
  }
});

Deno.test("EdgeBuffer telemetry: a broken SDK (throwing tracer and instruments) cannot fail the buffer", async () => {
  const boom = () => {
    throw new Error("broken SDK");
  };
  await using buffer = await EdgeBuffer.open<number>({
    path: ":memory:",
    telemetry: {
      tracerProvider: { getTracer: () => ({ startSpan: boom }) },
      meterProvider: {
        getMeter: () => ({
          createGauge: () => ({ record: boom }),
          createCounter: () => ({ add: boom }),
        }),
      },
    },
    maxSizeBytes: 1,
  });
  assert.equal(await buffer.enqueue(1), true);
  assert.equal(await buffer.enqueue(2), false);
  assert.deepEqual(await buffer.flush(() => Promise.resolve()), {
    sent: 1,
    batches: 1,
    remaining: 0,
  });
});
