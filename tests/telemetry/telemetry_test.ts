import assert from "node:assert/strict";
import { metrics, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace";
import type { ResourceMetrics } from "@opentelemetry/sdk-metrics";
import { policy, type PolicyOptions } from "../../src/policy/policy.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { constant } from "../../src/backoff/constant.ts";
import { PermanentError, TransientError } from "../../src/classify/markers.ts";
import { VERSION } from "../../src/telemetry/version.ts";
import { FailureBudget } from "../../src/budget/failure_budget.ts";
import { settleLater } from "../_helpers.ts";
import {
  counterValue,
  descriptor,
  histogramCount,
  histogramSum,
  hrMs,
  otelHarness,
  points,
} from "../_otel.ts";

const T0 = 1_700_000_000_000;

/** A policy wired to an in-memory OTel pipeline, in virtual time. */
function instrumented(
  name: string,
  options: PolicyOptions = {},
  spans?: "full" | "failures" | "off",
) {
  const otel = otelHarness();
  const clock = new VirtualClock(T0);
  const p = policy(name, {
    clock,
    telemetry: {
      tracerProvider: otel.tracerProvider,
      meterProvider: otel.meterProvider,
      ...(spans === undefined ? {} : { spans }),
    },
    ...options,
  });
  return { otel, clock, p };
}

/** Runs fn through p in virtual time and returns its settlement. */
async function run<T>(clock: VirtualClock, p: ReturnType<typeof policy>, fn: () => T | Promise<T>) {
  const r = settleLater(p.execute(fn));
  await clock.runAll();
  return await r;
}

function failTimes(times: number, make: () => unknown = () => new TransientError("blip")) {
  let n = 0;
  return () => {
    n++;
    if (n <= times) return Promise.reject(make());
    return Promise.resolve(`ok after ${n}`);
  };
}

function byName(spans: ReadableSpan[], name: string) {
  return spans.filter((s) => s.name === name);
}

Deno.test("two transient failures then success: 1 call span, 3 attempt spans, 2 retry events", async () => {
  const { otel, clock, p } = instrumented("payments", {
    retry: { maxAttempts: 5, backoff: constant(100) },
  });
  const out = await run(clock, p, failTimes(2));
  assert.deepEqual(out, { ok: true, value: "ok after 3" });
  const spans = await otel.spans();
  assert.equal(spans.length, 4);
  const [call] = byName(spans, "payments");
  const attempts = byName(spans, "payments attempt");
  assert.equal(attempts.length, 3);
  assert.equal(call.kind, SpanKind.INTERNAL);
  assert.equal(call.parentSpanContext, undefined);
  assert.deepEqual(call.attributes, {
    "bulwark.policy.name": "payments",
    "bulwark.attempts": 3,
    "bulwark.outcome": "success",
  });
  assert.equal(call.status.code, SpanStatusCode.UNSET);
  assert.equal(hrMs(call.startTime), T0);
  assert.equal(hrMs(call.endTime), T0 + 200);
  const callId = call.spanContext().spanId;
  attempts.sort((a, b) => hrMs(a.startTime) - hrMs(b.startTime));
  attempts.forEach((a, i) => {
    assert.equal(a.parentSpanContext?.spanId, callId);
    assert.equal(a.spanContext().traceId, call.spanContext().traceId);
    assert.equal(a.attributes["bulwark.attempt"], i + 1);
    assert.equal(hrMs(a.startTime), T0 + i * 100);
  });
  assert.equal(attempts[0].attributes["bulwark.error.class"], "transient");
  assert.equal(attempts[0].attributes["error.type"], "TransientError");
  assert.equal(attempts[0].status.code, SpanStatusCode.ERROR);
  assert.equal(attempts[2].attributes["bulwark.error.class"], undefined);
  assert.equal(attempts[2].status.code, SpanStatusCode.UNSET);
  const retries = call.events.filter((e) => e.name === "bulwark.retry");
  assert.equal(retries.length, 2);
  assert.deepEqual(retries.map((e) => e.attributes), [
    { "bulwark.attempt": 1, "bulwark.error.class": "transient", "bulwark.retry.delay_ms": 100 },
    { "bulwark.attempt": 2, "bulwark.error.class": "transient", "bulwark.retry.delay_ms": 100 },
  ]);
  assert.deepEqual(retries.map((e) => hrMs(e.time)), [T0, T0 + 100]);
  await otel.shutdown();
});

Deno.test("a permanent failure: status ERROR, error.type, exception event, bulwark.permanent_fail", async () => {
  const { otel, clock, p } = instrumented("orders", { retry: { maxAttempts: 3 } });
  const out = await run(clock, p, () => Promise.reject(new PermanentError("400 bad input")));
  assert.equal(out.ok, false);
  const [call] = byName(await otel.spans(), "orders");
  assert.equal(call.status.code, SpanStatusCode.ERROR);
  assert.equal(call.attributes["error.type"], "PermanentError");
  assert.equal(call.attributes["bulwark.outcome"], "permanent_fail");
  assert.equal(call.attributes["bulwark.attempts"], 1);
  const names = call.events.map((e) => e.name);
  assert.deepEqual(names, ["bulwark.permanent_fail", "exception"]);
  const exception = call.events[1];
  assert.equal(exception.attributes?.["exception.type"], "PermanentError");
  assert.equal(exception.attributes?.["exception.message"], "400 bad input");
  await otel.shutdown();
});

Deno.test("every give-up outcome sets bulwark.outcome and its span event", async () => {
  const cases: Array<[string, PolicyOptions, () => unknown, string, string]> = [
    [
      "max_attempts_exceeded",
      { retry: { maxAttempts: 2, backoff: constant(1) } },
      () => Promise.reject(new TransientError("t")),
      "bulwark.max_attempts_exceeded",
      "RetryExhaustedError",
    ],
    [
      "max_unknown_attempts_exceeded",
      { retry: { maxAttempts: 5, maxUnknownAttempts: 1, backoff: constant(1) } },
      () => Promise.reject(new Error("?")),
      "bulwark.max_unknown_attempts_exceeded",
      "RetryExhaustedError",
    ],
    [
      "class_budget_exhausted",
      { retry: { maxAttempts: 5, budgets: { transient: 0 } } },
      () => Promise.reject(new TransientError("t")),
      "bulwark.class_budget_exhausted",
      "RetryExhaustedError",
    ],
    [
      "deadline_exceeded",
      { deadlineMs: 50, retry: { maxAttempts: 5, backoff: constant(100) } },
      () => Promise.reject(new TransientError("t")),
      "bulwark.deadline_exceeded",
      "DeadlineExceededError",
    ],
    [
      "deadline_exceeded",
      { deadlineMs: 50 },
      () => new Promise(() => {}),
      "bulwark.deadline_exceeded",
      "DeadlineExceededError",
    ],
  ];
  for (const [outcome, options, fn, eventName, errorType] of cases) {
    const { otel, clock, p } = instrumented("giveup", options);
    const out = await run(clock, p, fn);
    assert.equal(out.ok, false, outcome);
    const [call] = byName(await otel.spans(), "giveup");
    assert.equal(call.attributes["bulwark.outcome"], outcome);
    assert.equal(call.attributes["error.type"], errorType, outcome);
    assert.equal(call.status.code, SpanStatusCode.ERROR);
    assert.ok(call.events.some((e) => e.name === eventName), `${outcome}: ${eventName}`);
    await otel.shutdown();
  }
});

Deno.test("a cancelled call has outcome cancelled and is not marked as an error", async () => {
  const { otel, clock, p } = instrumented("cancel", { retry: { maxAttempts: 3 } });
  const controller = new AbortController();
  const r = settleLater(p.execute(() => new Promise(() => {}), { signal: controller.signal }));
  await clock.advance(10);
  controller.abort(new Error("user left"));
  assert.equal((await r).ok, false);
  const [call] = byName(await otel.spans(), "cancel");
  assert.equal(call.attributes["bulwark.outcome"], "cancelled");
  assert.equal(call.status.code, SpanStatusCode.UNSET);
  await otel.shutdown();
});

Deno.test("the attempt span is the active context while the attempt runs", async () => {
  const { otel, clock, p } = instrumented("nest", {
    retry: { maxAttempts: 2, backoff: constant(5) },
  });
  const inner = otel.tracerProvider.getTracer("test");
  const out = await run(clock, p, async () => {
    await Promise.resolve();
    const span = inner.startSpan("fetch GET");
    span.end();
    return "done";
  });
  assert.deepEqual(out, { ok: true, value: "done" });
  const spans = await otel.spans();
  const [attempt] = byName(spans, "nest attempt");
  const [child] = byName(spans, "fetch GET");
  assert.equal(child.parentSpanContext?.spanId, attempt.spanContext().spanId);
  // ...and the caller's active span is the call span's parent.
  const { otel: o2, clock: c2, p: p2 } = instrumented("outer-parent");
  const parent = o2.tracerProvider.getTracer("test").startSpan("request");
  const ctx = trace.setSpan((await import("@opentelemetry/api")).context.active(), parent);
  const r = (await import("@opentelemetry/api")).context.with(
    ctx,
    () => settleLater(p2.execute(() => 1)),
  );
  await c2.runAll();
  await r;
  parent.end();
  const [call] = byName(await o2.spans(), "outer-parent");
  assert.equal(call.parentSpanContext?.spanId, parent.spanContext().spanId);
  await otel.shutdown();
  await o2.shutdown();
});

Deno.test("exact metric values after collect()", async () => {
  const { otel, clock, p } = instrumented("metered", {
    retry: { maxAttempts: 3, backoff: constant(250) },
  });
  await run(clock, p, failTimes(2)); // 3 attempts, 2 retries, success
  await run(clock, p, () => 1); // 1 attempt
  await run(clock, p, () => Promise.reject(new PermanentError("no"))); // permanent
  await run(clock, p, failTimes(5)); // 3 attempts, max_attempts_exceeded
  const rm = await otel.metrics();
  const policyAttr = { "bulwark.policy.name": "metered" };
  const ev = (type: string) =>
    counterValue(rm, "bulwark.events", { ...policyAttr, "bulwark.event": type });
  assert.equal(ev("retry"), 4);
  assert.equal(ev("success"), 2);
  assert.equal(ev("permanent_fail"), 1);
  assert.equal(ev("max_attempts_exceeded"), 1);
  assert.equal(
    counterValue(rm, "bulwark.events", {
      "bulwark.event": "retry",
      "bulwark.error.class": "transient",
    }),
    4,
  );
  const call = (outcome: string) =>
    histogramCount(rm, "bulwark.call.duration", { ...policyAttr, "bulwark.outcome": outcome });
  assert.equal(call("success"), 2);
  assert.equal(call("permanent_fail"), 1);
  assert.equal(call("max_attempts_exceeded"), 1);
  assert.equal(
    points(rm, "bulwark.call.duration").find((x) =>
      x.attributes["bulwark.outcome"] === "max_attempts_exceeded"
    )
      ?.attributes["error.type"],
    "RetryExhaustedError",
  );
  // Two calls took 0.5 s of retry sleeps each: the success one and the exhausted one.
  assert.equal(histogramSum(rm, "bulwark.call.duration", { "bulwark.outcome": "success" }), 0.5);
  assert.equal(
    histogramCount(rm, "bulwark.attempt.duration", { "bulwark.attempt.outcome": "success" }),
    2,
  );
  assert.equal(
    histogramCount(rm, "bulwark.attempt.duration", { "bulwark.attempt.outcome": "failure" }),
    6,
  );
  assert.equal(
    histogramCount(rm, "bulwark.retry.delay", { "bulwark.error.class": "transient" }),
    4,
  );
  assert.equal(histogramSum(rm, "bulwark.retry.delay", {}), 1);
  assert.equal(descriptor(rm, "bulwark.call.duration")?.unit, "s");
  assert.equal(descriptor(rm, "bulwark.retry.delay")?.unit, "s");
  // No counter ever goes negative; no instrument is declared INT.
  for (const scope of rm.scopeMetrics) {
    assert.equal(scope.scope.name, "@bulwark/bulwark");
    assert.equal(scope.scope.version, VERSION);
    for (const m of scope.metrics) assert.notEqual(m.descriptor.valueType, 0, m.descriptor.name);
  }
  await otel.shutdown();
});

Deno.test('spans: "failures" makes no span for a first-attempt success', async () => {
  const { otel, clock, p } = instrumented("quiet", {}, "failures");
  await run(clock, p, () => "fine");
  assert.equal((await otel.spans()).length, 0);
  // Metrics are still recorded.
  const rm = await otel.metrics();
  assert.equal(histogramCount(rm, "bulwark.call.duration", { "bulwark.outcome": "success" }), 1);
  await otel.shutdown();
});

Deno.test('spans: "failures" gives a retried call the same tree as "full", with true start times', async () => {
  const shape = async (mode: "full" | "failures") => {
    const { otel, clock, p } = instrumented("mixed", {
      retry: { maxAttempts: 4, backoff: constant(100) },
    }, mode);
    let n = 0;
    await run(clock, p, async () => {
      n++;
      await clock.sleep(30); // each attempt takes 30 ms
      if (n < 3) throw new TransientError("t");
      return "ok";
    });
    const spans = await otel.spans();
    const [call] = byName(spans, "mixed");
    const attempts = byName(spans, "mixed attempt").sort((a, b) =>
      hrMs(a.startTime) - hrMs(b.startTime)
    );
    await otel.shutdown();
    return {
      call: [hrMs(call.startTime) - T0, hrMs(call.endTime) - T0, call.attributes],
      attempts: attempts.map((a) => [
        hrMs(a.startTime) - T0,
        hrMs(a.endTime) - T0,
        a.attributes,
        a.parentSpanContext?.spanId === call.spanContext().spanId,
      ]),
      events: call.events.map((e) => [e.name, hrMs(e.time) - T0]),
    };
  };
  const full = await shape("full");
  const failures = await shape("failures");
  assert.deepEqual(failures, full);
  assert.deepEqual(full.attempts.map((a) => a.slice(0, 2)), [[0, 30], [130, 160], [260, 290]]);
});

Deno.test("a throwing exporter or listener changes neither result nor timing", async () => {
  const scenario = async (sabotage: boolean) => {
    const { otel, clock, p } = instrumented("robust", {
      retry: { maxAttempts: 4, backoff: constant(100) },
      onEvent: sabotage
        ? () => {
          throw new Error("listener bug");
        }
        : undefined,
    });
    if (sabotage) {
      otel.exporter.export = () => {
        throw new Error("exporter down");
      };
    }
    const starts: number[] = [];
    let n = 0;
    const out = await run(clock, p, () => {
      starts.push(clock.now() - T0);
      return ++n < 3 ? Promise.reject(new TransientError("t")) : Promise.resolve(n);
    });
    await otel.shutdown().catch(() => {});
    return { out, starts, end: clock.now() - T0 };
  };
  assert.deepEqual(await scenario(true), await scenario(false));
});

Deno.test("telemetry: false creates no spans and no metrics", async () => {
  const otel = otelHarness();
  const clock = new VirtualClock();
  const p = policy("dark", { clock, telemetry: false });
  await run(clock, p, () => 1);
  assert.equal((await otel.spans()).length, 0);
  assert.equal(points(await otel.metrics(), "bulwark.call.duration").length, 0);
  await otel.shutdown();
});

Deno.test("telemetry options are validated", () => {
  assert.throws(() => policy("p", { telemetry: { tracerProvider: {} as never } }), {
    name: "TypeError",
    message: "telemetry.tracerProvider must be an object with getTracer(): received {}",
  });
  assert.throws(() => policy("p", { telemetry: { meterProvider: 5 as never } }), {
    name: "TypeError",
    message: "telemetry.meterProvider must be an object with getMeter(): received 5",
  });
  assert.throws(() => policy("p", { telemetry: { span: "full" } as never }), {
    name: "TypeError",
    message:
      "telemetry.span is not a known option (expected one of: tracerProvider, meterProvider, spans)",
  });
});

Deno.test("VERSION matches deno.json", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  assert.equal(VERSION, config.version);
});

Deno.test("closed->open->half_open->closed: 3 transition spans linked to their calls, counter and gauge", async () => {
  const { otel, clock, p } = instrumented("gate", {
    retry: { maxAttempts: 1 },
    circuit: { kind: "consecutive", threshold: 2, breakMs: 1_000 },
  });
  const failing = () => Promise.reject(new TransientError("t"));
  await run(clock, p, failing);
  await run(clock, p, failing); // opens
  const rm1 = await otel.metrics();
  assert.equal(
    points(rm1, "bulwark.circuit.state").find((x) =>
      x.attributes["bulwark.circuit.name"] === "gate"
    )
      ?.value,
    2,
  );
  await clock.advance(1_000);
  await run(clock, p, () => "probe"); // open -> half_open -> closed
  const spans = await otel.spans();
  const transitions = byName(spans, "bulwark.circuit.transition");
  assert.deepEqual(
    transitions.map((
      s,
    ) => [s.attributes["bulwark.circuit.from"], s.attributes["bulwark.circuit.to"]]),
    [["closed", "open"], ["open", "half_open"], ["half_open", "closed"]],
  );
  const calls = byName(spans, "gate");
  for (const t of transitions) {
    assert.equal(t.attributes["bulwark.circuit.name"], "gate");
    assert.equal(typeof t.attributes["bulwark.circuit.reason"], "string");
    assert.equal(t.links.length, 1);
    const linked = calls.find((c) => c.spanContext().spanId === t.links[0].context.spanId);
    assert.ok(linked, "linked to the call span that caused it");
  }
  // The second failing call caused the open; the probe call caused the other two.
  assert.equal(transitions[0].links[0].context.spanId, calls[1].spanContext().spanId);
  assert.equal(transitions[2].links[0].context.spanId, calls[2].spanContext().spanId);
  const rm = await otel.metrics();
  assert.equal(
    counterValue(rm, "bulwark.circuit.transitions", { "bulwark.circuit.name": "gate" }),
    3,
  );
  for (const [from, to] of [["closed", "open"], ["open", "half_open"], ["half_open", "closed"]]) {
    assert.equal(
      counterValue(rm, "bulwark.circuit.transitions", {
        "bulwark.circuit.from": from,
        "bulwark.circuit.to": to,
      }),
      1,
    );
  }
  assert.equal(
    points(rm, "bulwark.circuit.state").find((x) => x.attributes["bulwark.circuit.name"] === "gate")
      ?.value,
    0,
  );
  assert.equal(counterValue(rm, "bulwark.events", { "bulwark.event": "circuit_transition" }), 3);
  await otel.shutdown();
});

Deno.test("a failure-budget breach gives its span, its event counter and the rate gauge", async () => {
  const { otel, clock, p } = instrumented("budgeted", {
    retry: { maxAttempts: 1 },
    failureBudget: { threshold: 0.25, windowMs: 60_000, minSamples: 4 },
  });
  for (const outcome of [true, true, true, false]) {
    await run(clock, p, () => (outcome ? "ok" : Promise.reject(new TransientError("t"))));
  }
  // 1 of 4 failed: 0.25 is not above the threshold.
  assert.equal(byName(await otel.spans(), "bulwark.failure_budget.breach").length, 0);
  await run(clock, p, () => Promise.reject(new TransientError("t"))); // 2 of 5 = 0.4
  const spans = await otel.spans();
  const [breach] = byName(spans, "bulwark.failure_budget.breach");
  assert.deepEqual(breach.attributes, {
    "bulwark.failure_budget.name": "budgeted",
    "bulwark.failure_budget.rate": 0.4,
    "bulwark.failure_budget.threshold": 0.25,
    "bulwark.failure_budget.samples": 5,
  });
  const lastCall = byName(spans, "budgeted").at(-1)!;
  assert.equal(breach.links[0].context.spanId, lastCall.spanContext().spanId);
  const rm = await otel.metrics();
  assert.equal(counterValue(rm, "bulwark.events", { "bulwark.event": "failure_budget_breach" }), 1);
  assert.equal(
    points(rm, "bulwark.failure_budget.rate").find((x) =>
      x.attributes["bulwark.failure_budget.name"] === "budgeted"
    )?.value,
    0.4,
  );
  await otel.shutdown();
});

Deno.test("the bulkhead gauges read in_flight and queued when metrics are collected, back to zero", async () => {
  const { otel, clock, p } = instrumented("pool", { bulkhead: { maxConcurrent: 1, maxQueue: 2 } });
  const a = settleLater(p.execute(() => clock.sleep(10).then(() => "a")));
  const b = settleLater(p.execute(() => "b"));
  await clock.advance(0);
  let rm = await otel.metrics();
  assert.equal(
    counterValue(rm, "bulwark.bulkhead.in_flight", { "bulwark.bulkhead.name": "pool" }),
    1,
  );
  assert.equal(counterValue(rm, "bulwark.bulkhead.queued", { "bulwark.bulkhead.name": "pool" }), 1);
  await clock.runAll();
  await a;
  await b;
  rm = await otel.metrics();
  assert.equal(
    counterValue(rm, "bulwark.bulkhead.in_flight", { "bulwark.bulkhead.name": "pool" }),
    0,
  );
  assert.equal(counterValue(rm, "bulwark.bulkhead.queued", { "bulwark.bulkhead.name": "pool" }), 0);
  await otel.shutdown();
});

Deno.test("circuit_open, bulkhead_rejected and retry_budget_exhausted set bulwark.outcome", async () => {
  const cases: Array<[string, PolicyOptions, string]> = [
    [
      "circuit_open",
      { circuit: { kind: "consecutive", threshold: 1, breakMs: 1_000 } },
      "CircuitOpenError",
    ],
    ["bulkhead_rejected", { bulkhead: { maxConcurrent: 1 } }, "BulkheadRejectedError"],
    [
      "retry_budget_exhausted",
      {
        retry: { maxAttempts: 3, backoff: constant(0), retryBudget: { ratio: 0, minPerSecond: 0 } },
      },
      "RetryExhaustedError",
    ],
  ];
  for (const [outcome, options, errorType] of cases) {
    const { otel, clock, p } = instrumented("edge", options);
    if (outcome === "circuit_open") {
      await run(clock, p, () => Promise.reject(new TransientError("t")));
    }
    let hold: Promise<unknown> | undefined;
    if (outcome === "bulkhead_rejected") {
      hold = settleLater(p.execute(() => clock.sleep(5)));
      await clock.advance(0);
    }
    await run(clock, p, () => Promise.reject(new TransientError("t")));
    await hold;
    const call = byName(await otel.spans(), "edge")
      .filter((s) => s.attributes["bulwark.outcome"] !== "success").at(-1)!;
    assert.equal(call.attributes["bulwark.outcome"], outcome);
    assert.equal(call.attributes["error.type"], errorType, outcome);
    assert.equal(call.status.code, SpanStatusCode.ERROR);
    await otel.shutdown();
  }
});

Deno.test("a broken tracer or meter changes neither result nor timing", async () => {
  const scenario = async (broken: boolean) => {
    const clock = new VirtualClock(T0);
    const boom = () => {
      throw new Error("SDK bug");
    };
    const telemetry = broken
      ? {
        tracerProvider: { getTracer: () => ({ startSpan: boom, startActiveSpan: boom }) },
        meterProvider: {
          getMeter: () => ({
            createHistogram: () => ({ record: boom }),
            createCounter: () => ({ add: boom }),
            createObservableGauge: () => ({ addCallback: () => {} }),
            createGauge: () => ({ record: boom }),
          }),
        },
      }
      : false as const;
    const p = policy("fragile", {
      clock,
      telemetry,
      retry: { maxAttempts: 4, backoff: constant(100) },
      circuit: { kind: "consecutive", threshold: 10, breakMs: 1_000 },
      failureBudget: { threshold: 0.1, windowMs: 60_000, minSamples: 1 },
      bulkhead: { maxConcurrent: 2 },
    });
    let n = 0;
    const starts: number[] = [];
    const out = await run(clock, p, () => {
      starts.push(clock.now() - T0);
      return ++n < 3 ? Promise.reject(new TransientError("t")) : Promise.resolve(`ok ${n}`);
    });
    return { out, starts, end: clock.now() - T0 };
  };
  assert.deepEqual(await scenario(true), await scenario(false));
});

Deno.test("a slow listener costs only its own time: results and virtual timing are unchanged", async () => {
  const scenario = async (slow: boolean) => {
    const clock = new VirtualClock(T0);
    let calls = 0;
    const p = policy("patient", {
      clock,
      telemetry: false,
      retry: { maxAttempts: 4, backoff: constant(100) },
      onEvent: slow
        ? () => {
          calls++;
          const until = performance.now() + 2; // a listener that blocks for 2 ms
          while (performance.now() < until) { /* busy */ }
        }
        : undefined,
    });
    let n = 0;
    const starts: number[] = [];
    const out = await run(clock, p, () => {
      starts.push(clock.now() - T0);
      return ++n < 3 ? Promise.reject(new TransientError("t")) : Promise.resolve(n);
    });
    return { out, starts, end: clock.now() - T0, listened: calls > 0 };
  };
  const slow = await scenario(true);
  const fast = await scenario(false);
  assert.equal(slow.listened, true);
  assert.deepEqual({ ...slow, listened: true }, { ...fast, listened: true });
});

Deno.test("the failure-rate gauge reads each budget when metrics are collected, once per budget (shared budgets, delta readers)", async () => {
  // A meter that hands the test the gauge's callback: each "collection" calls it.
  const callbacks = new Map<string, (result: { observe(v: number, a: object): void }) => void>();
  const records: string[] = [];
  const meterProvider = {
    getMeter: () => ({
      createHistogram: (name: string) => ({ record: () => records.push(name) }),
      createCounter: (name: string) => ({ add: () => records.push(name) }),
      createGauge: (name: string) => ({ record: () => records.push(name) }),
      createObservableGauge: (name: string) => ({
        addCallback: (cb: (result: { observe(v: number, a: object): void }) => void) =>
          callbacks.set(name, cb),
      }),
    }),
  };
  const collect = () => {
    const seen: [number, object][] = [];
    callbacks.get("bulwark.failure_budget.rate")!({ observe: (v, a) => seen.push([v, a]) });
    return seen;
  };
  const clock = new VirtualClock(T0);
  const shared = new FailureBudget({
    name: "checkout",
    threshold: 0.9,
    windowMs: 60_000,
    minSamples: 100,
    clock,
  });
  const options = {
    retry: { maxAttempts: 1 },
    clock,
    telemetry: { spans: "off" as const, meterProvider },
    failureBudget: shared,
  };
  const a = policy("a", options);
  const b = policy("b", options);
  // Before any call: one series for the shared budget, at 0.
  assert.deepEqual(collect(), [[0, { "bulwark.failure_budget.name": "checkout" }]]);
  for (const [p, ok] of [[a, true], [b, false], [a, true], [b, true]] as const) {
    await run(clock, p, () => (ok ? "ok" : Promise.reject(new TransientError("t"))));
  }
  // Nothing was recorded for the gauge per call; each collection reads 1 failure in 4 samples.
  assert.equal(records.includes("bulwark.failure_budget.rate"), false);
  assert.deepEqual(collect(), [[0.25, { "bulwark.failure_budget.name": "checkout" }]]);
  assert.deepEqual(collect(), [[0.25, { "bulwark.failure_budget.name": "checkout" }]]);
  // Permanent failures are not samples of the budget.
  await run(clock, a, () => Promise.reject(new PermanentError("no")));
  assert.deepEqual(collect(), [[0.25, { "bulwark.failure_budget.name": "checkout" }]]);
});

Deno.test("a traced call that succeeds at once reads the clock twice: its start and its end", async () => {
  for (const options of [{}, { deadlineMs: 1_000, attemptTimeoutMs: 200 }] as PolicyOptions[]) {
    const otel = otelHarness();
    const clock = new VirtualClock(T0);
    let reads = 0;
    const counting = {
      now: () => (reads++, clock.now()),
      sleep: (ms: number, signal?: AbortSignal) => clock.sleep(ms, signal),
      setTimer: (cb: () => void, ms: number) => clock.setTimer(cb, ms),
      clearTimer: (id: number | object) => clock.clearTimer(id),
    };
    const p = policy("counted", {
      clock: counting,
      telemetry: { tracerProvider: otel.tracerProvider, meterProvider: otel.meterProvider },
      ...options,
    });
    assert.equal(await p.execute(() => "ok"), "ok");
    assert.equal(reads, 2, JSON.stringify(options));
    assert.equal((await otel.spans()).length, 2, "call and attempt spans");
    await otel.shutdown();
  }
});

Deno.test("an SDK registered after the policy was created is picked up within 1,024 calls", async () => {
  const otel = otelHarness();
  const p = policy("late", { clock: new VirtualClock(T0) }); // default telemetry, no SDK yet
  for (let i = 0; i < 10; i++) await p.execute(() => "ok");
  assert.ok(trace.setGlobalTracerProvider(otel.tracerProvider));
  try {
    let untraced = 0;
    for (; untraced < 2_000; untraced++) {
      await p.execute(() => "ok");
      if ((await otel.spans()).length > 0) break;
    }
    // The first look came at call 1; the next is due 1,024 calls later.
    assert.ok(untraced < 1_024, `first traced call after ${untraced + 1} calls`);
    assert.equal((await otel.spans()).length, 2, "that call's span and its attempt span");
  } finally {
    trace.disable();
    await otel.shutdown();
  }
});

Deno.test("a meter provider registered after the policy was created is picked up within 1,024 calls, with spans off too", async () => {
  const otel = otelHarness();
  const clock = new VirtualClock(T0);
  // Default telemetry (spans on), and metrics only (spans off): no SDK yet.
  const both = policy("late-both", { clock });
  const metricsOnly = policy("late-metrics", { clock, telemetry: { spans: "off" } });
  for (let i = 0; i < 10; i++) {
    await both.execute(() => "ok");
    await metricsOnly.execute(() => "ok");
  }
  assert.ok(metrics.setGlobalMeterProvider(otel.meterProvider));
  assert.ok(trace.setGlobalTracerProvider(otel.tracerProvider));
  try {
    const calls = (name: string, rm: ResourceMetrics) =>
      histogramCount(rm, "bulwark.call.duration", { "bulwark.policy.name": name });
    for (let i = 0; i < 1_100; i++) {
      await both.execute(() => "ok");
      await metricsOnly.execute(() => "ok");
    }
    const rm = await otel.metrics();
    // The next look is due at most 1,024 calls after the last one: the rest are recorded.
    assert.ok(calls("late-both", rm) >= 1_100 - 1_024, `${calls("late-both", rm)}`);
    assert.ok(calls("late-metrics", rm) >= 1_100 - 1_024, `${calls("late-metrics", rm)}`);
    assert.ok(calls("late-both", rm) <= 1_100 && calls("late-metrics", rm) <= 1_100);
    const spans = await otel.spans();
    assert.ok(spans.some((s) => s.name === "late-both"), "spans of the default policy");
    assert.ok(!spans.some((s) => s.name === "late-metrics"), "no spans with spans off");
  } finally {
    trace.disable();
    metrics.disable();
    await otel.shutdown();
  }
});

Deno.test('what each spans mode records per call: "failures" records only the duration of a call that succeeds at once', async () => {
  for (const spans of ["full", "failures", "off"] as const) {
    const { otel, clock, p } = instrumented("modes", {
      retry: { maxAttempts: 3, backoff: constant(10) },
    }, spans);
    assert.deepEqual(await run(clock, p, () => "at once"), { ok: true, value: "at once" });
    assert.deepEqual(await run(clock, p, failTimes(1)), { ok: true, value: "ok after 2" });
    const rm = await otel.metrics();
    const policyName = { "bulwark.policy.name": "modes" };
    const recorded = {
      calls: histogramCount(rm, "bulwark.call.duration", policyName),
      attempts: histogramCount(rm, "bulwark.attempt.duration", policyName),
      successEvents: counterValue(rm, "bulwark.events", { "bulwark.event": "success" }),
      retryEvents: counterValue(rm, "bulwark.events", { "bulwark.event": "retry" }),
      retryDelays: histogramCount(rm, "bulwark.retry.delay", policyName),
      spans: (await otel.spans()).map((s) => s.name),
    };
    const detailed = spans === "full" || spans === "off";
    assert.deepEqual(recorded, {
      calls: 2,
      // "failures": the first call's attempt and success are not recorded; the second call's are.
      attempts: detailed ? 3 : 2,
      successEvents: detailed ? 2 : 1,
      retryEvents: 1,
      retryDelays: 1,
      spans: spans === "full"
        ? ["modes attempt", "modes", "modes attempt", "modes attempt", "modes"]
        : spans === "failures"
        ? ["modes attempt", "modes attempt", "modes"]
        : [],
    }, spans);
    await otel.shutdown();
  }
});
