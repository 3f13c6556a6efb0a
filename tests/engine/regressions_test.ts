// Regression tests for findings of a review of the fast path: each failed
// before its fix and is named after the behaviour it pins down.
import assert from "node:assert/strict";
import {
  type AttemptContext,
  type Classifier,
  constant,
  defaultClassifier,
  policy,
  type PolicyOptions,
  TransientError,
} from "../../mod.ts";
import { VirtualClock } from "../../testing.ts";
import { settleLater } from "../_helpers.ts";
import { otelHarness, points } from "../_otel.ts";
import { finish, manual, viaLoop } from "../_wheel.ts";

Deno.test("a failing value the first attempt returned is classified once, as on the general loop", async () => {
  const run = async (general: boolean) => {
    let calls = 0;
    const classify: Classifier = (x) => (calls++, defaultClassifier(x));
    const p = policy("once", {
      telemetry: false,
      classify,
      retry: { maxAttempts: 2, backoff: constant(0) },
    });
    let n = 0;
    const fn = () => Promise.resolve(++n === 1 ? { status: 500 } : "ok");
    const value = general ? await p.execute(fn, viaLoop()) : await p.execute(fn);
    return { value, calls };
  };
  assert.deepEqual(await run(false), { value: "ok", calls: 2 });
  assert.deepEqual(await run(true), { value: "ok", calls: 2 });
});

Deno.test("the operation's context has the same shape on every path and no engine state", async () => {
  const m = manual();
  try {
    const shapes: string[] = [];
    const look = (ctx: AttemptContext) => {
      const own = Object.keys(ctx).join(",");
      shapes.push(`${own}|${ctx.attempt}|${typeof ctx.deadline}|${ctx.signal.aborted}`);
      return "ok";
    };
    for (
      const options of [
        {},
        { deadlineMs: 1_000 },
        { attemptTimeoutMs: 500 },
      ] as PolicyOptions[]
    ) {
      const p = policy("shape", { clock: m.clock, telemetry: false, ...options });
      await p.execute(look); // the fast path
      await p.execute(look, viaLoop()); // the general loop
    }
    assert.deepEqual(new Set(shapes), new Set(["attempt|1|number|false"]));
    // Nothing of the engine is reachable through the context.
    const p = policy("sealed", { clock: m.clock, telemetry: false, deadlineMs: 1_000 });
    let seen: Record<string, unknown> = {};
    await p.execute((ctx) => {
      seen = ctx as unknown as Record<string, unknown>;
      return "ok";
    });
    for (
      const name of ["resolve", "reject", "settled", "callback", "operation", "shared", "slot"]
    ) {
      assert.equal(seen[name], undefined, name);
    }
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("a clock that throws rejects the call (never a synchronous throw) and frees the permit and the probe", async () => {
  const virtual = new VirtualClock(0);
  let fail = false;
  const clock = {
    now: () => {
      if (fail) throw new Error("clock broken");
      return virtual.now();
    },
    sleep: (ms: number, signal?: AbortSignal) => virtual.sleep(ms, signal),
    setTimer: (cb: () => void, ms: number) => virtual.setTimer(cb, ms),
    clearTimer: (id: number | object) => virtual.clearTimer(id),
  };
  const p = policy("broken-clock", {
    clock,
    telemetry: false,
    deadlineMs: 100,
    bulkhead: { maxConcurrent: 1 },
    circuit: { kind: "consecutive", threshold: 1, breakMs: 50, halfOpenMaxCalls: 1 },
  });
  // Trip the breaker and let the break pass, so the next call is the half-open probe.
  await p.execute(() => Promise.reject(new TransientError("down"))).catch(() => {});
  assert.equal(p.circuit!.state, "open");
  await virtual.advance(50);
  fail = true;
  let promise: Promise<unknown> | undefined;
  assert.doesNotThrow(() => {
    promise = p.execute(() => "never runs");
  });
  await assert.rejects(promise!, /clock broken/);
  assert.equal(p.bulkhead!.inFlight, 0, "the permit is back");
  fail = false;
  assert.equal(await p.execute(() => "probe"), "probe", "the half-open probe was not kept");
  assert.equal(p.circuit!.state, "closed");
});

Deno.test("a meter with a broken tracer keeps the bulkhead's in-flight counter balanced", async () => {
  const otel = otelHarness();
  try {
    const broken = {
      getTracer: () => ({
        startSpan() {
          throw new Error("broken");
        },
      }),
    };
    const p = policy("half-broken", {
      retry: { maxAttempts: 1 },
      clock: new VirtualClock(0),
      telemetry: {
        meterProvider: otel.meterProvider,
        tracerProvider: broken as never,
        spans: "full",
      },
      bulkhead: { maxConcurrent: 2 },
    });
    await p.execute(() => Promise.reject(new TransientError("x"))).catch(() => {});
    assert.equal(await p.execute(() => "ok"), "ok");
    const inFlight = points(await otel.metrics(), "bulwark.bulkhead.in_flight").map((x) => x.value);
    assert.deepEqual(inFlight, [0]);
  } finally {
    await otel.shutdown();
  }
});

Deno.test("after an attempt timeout the next attempt starts after the wheel's tick, not inside it", async () => {
  const m = manual();
  try {
    const order: string[] = [];
    const p = policy("after-tick", {
      clock: m.clock,
      telemetry: false,
      attemptTimeoutMs: 20,
      deadlineMs: 1_000,
      retry: { maxAttempts: 2, backoff: constant(0) },
    });
    const call = settleLater(p.execute(({ attempt }) => {
      order.push(`attempt ${attempt}`);
      return attempt === 1 ? new Promise<string>(() => {}) : "ok";
    }));
    await m.at(1_010); // the attempt's entry takes its slot (due 1020)
    // An entry due on the same tick, behind it in the slot.
    m.clock.setTimer(() => order.push("sibling timer"), 10);
    await m.at(1_020);
    assert.deepEqual(order, ["attempt 1", "sibling timer", "attempt 2"]);
    assert.deepEqual(await call, { ok: true, value: "ok" });
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("a promise whose then() throws is a failed attempt, not a synchronous throw", async () => {
  class Hostile<T> extends Promise<T> {
    override then(): never {
      throw new TransientError("then() is broken");
    }
  }
  for (const options of [{}, { deadlineMs: 1_000 }] as PolicyOptions[]) {
    const clock = new VirtualClock(0);
    const p = policy("hostile", {
      clock,
      telemetry: false,
      retry: { maxAttempts: 2, backoff: constant(0) },
      bulkhead: { maxConcurrent: 1 },
      ...options,
    });
    let n = 0;
    let promise: Promise<unknown> | undefined;
    assert.doesNotThrow(() => {
      promise = p.execute(() => (++n === 1 ? new Hostile<string>(() => {}) : "second"));
    });
    assert.equal(await promise, "second", JSON.stringify(options));
    assert.equal(p.bulkhead!.inFlight, 0);
  }
});
