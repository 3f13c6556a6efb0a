// Broken telemetry loses telemetry, never calls: providers whose factories
// throw, and a global context manager whose with() throws.
import assert from "node:assert/strict";
import { context, type ContextManager, ROOT_CONTEXT } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { policy } from "../../src/policy/policy.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { constant } from "../../src/backoff/constant.ts";
import { TransientError } from "../../src/classify/markers.ts";
import { settleLater } from "../_helpers.ts";
import { otelHarness, points } from "../_otel.ts";

const boom = () => {
  throw new Error("SDK bug");
};

async function run<T>(clock: VirtualClock, p: ReturnType<typeof policy>, fn: () => T | Promise<T>) {
  const r = settleLater(p.execute(fn));
  await clock.runAll();
  return await r;
}

Deno.test("policy() works when getTracer, getMeter or createHistogram throws, and records nothing of that kind", async () => {
  const otel = otelHarness();
  const brokenMeter = {
    createHistogram: boom,
    createCounter: () => ({ add: boom }),
    createObservableGauge: () => ({ addCallback: boom }),
    createGauge: () => ({ record: boom }),
  };
  const cases = [
    { name: "getTracer", telemetry: { tracerProvider: { getTracer: boom } } },
    { name: "getMeter", telemetry: { meterProvider: { getMeter: boom } } },
    { name: "createHistogram", telemetry: { meterProvider: { getMeter: () => brokenMeter } } },
    {
      name: "getTracer with a working meter",
      telemetry: { tracerProvider: { getTracer: boom }, meterProvider: otel.meterProvider },
      metrics: true,
    },
    {
      name: "createHistogram with a working tracer",
      telemetry: {
        tracerProvider: otel.tracerProvider,
        meterProvider: { getMeter: () => brokenMeter },
      },
      spans: true,
    },
  ];
  for (const c of cases) {
    const clock = new VirtualClock(0);
    const p = policy(c.name, {
      clock,
      telemetry: c.telemetry,
      retry: { maxAttempts: 3, backoff: constant(10) },
      circuit: { kind: "consecutive", threshold: 10, breakMs: 1_000 },
    });
    let n = 0;
    const out = await run(
      clock,
      p,
      () => ++n < 2 ? Promise.reject(new TransientError("t")) : Promise.resolve(n),
    );
    assert.deepEqual(out, { ok: true, value: 2 }, c.name);
    assert.equal(n, 2, c.name);
    const spans = (await otel.spans()).filter((s) => s.name.startsWith(c.name));
    assert.equal(spans.length, c.spans ? 3 : 0, c.name);
  }
  // Only the working meter recorded, for its own policy alone.
  const calls = points(await otel.metrics(), "bulwark.call.duration");
  assert.deepEqual(calls.map((d) => d.attributes["bulwark.policy.name"]), [
    "getTracer with a working meter",
  ]);
  await otel.shutdown();
});

/** A context manager whose `with()` misbehaves in the way `mode` says. */
function brokenManager(mode: "before" | "after"): ContextManager {
  return {
    active: () => ROOT_CONTEXT,
    with(_ctx, fn, thisArg, ...args) {
      if (mode === "before") throw new Error("with() broke before running fn");
      // deno-lint-ignore no-explicit-any
      const result = (fn as any).apply(thisArg, args);
      void result?.then?.(() => {}, () => {});
      throw new Error("with() broke after running fn");
    },
    bind: (_ctx, target) => target,
    enable() {
      return this;
    },
    disable() {
      return this;
    },
  };
}

Deno.test("a context manager whose with() throws: every attempt still runs exactly once", async () => {
  const otel = otelHarness();
  try {
    for (const mode of ["before", "after"] as const) {
      context.disable();
      assert.equal(context.setGlobalContextManager(brokenManager(mode)), true);
      for (const [label, failFirst] of [["succeeds", 0], ["fails once, sync", 1]] as const) {
        const clock = new VirtualClock(0);
        const p = policy(`ctx-${mode}`, {
          clock,
          telemetry: { tracerProvider: otel.tracerProvider, meterProvider: otel.meterProvider },
          retry: { maxAttempts: 3, backoff: constant(10) },
        });
        let n = 0;
        const out = await run(clock, p, () => {
          n++;
          if (n <= failFirst) throw new TransientError("sync blip");
          return Promise.resolve(`ok ${n}`);
        });
        assert.deepEqual(out, { ok: true, value: `ok ${failFirst + 1}` }, `${mode} ${label}`);
        assert.equal(n, failFirst + 1, `${mode} ${label}: attempts ran once each`);
      }
    }
  } finally {
    context.disable();
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    await otel.shutdown();
  }
});
