// execute(fn, { coalesceKey }): while a call with the same key is in flight
// on the policy, later calls join it and settle with the same value or error
// (single flight). Each caller keeps its own signal; the shared call is
// aborted only when every caller has left (DESIGN.md §6).
import assert from "node:assert/strict";
import {
  type AttemptContext,
  type CoalescedEvent,
  PermanentError,
  policy,
  type PolicyOptions,
} from "../../mod.ts";
import { VirtualClock } from "../../testing.ts";
import { loose, recorder, settleLater } from "../_helpers.ts";
import { counterValue, otelHarness } from "../_otel.ts";

/** A policy in virtual time without telemetry, recording its events. */
function setup(options: PolicyOptions = {}) {
  const clock = new VirtualClock();
  const rec = recorder();
  const p = policy("users", { clock, telemetry: false, onEvent: rec.onEvent, ...options });
  return { clock, rec, p };
}

/**
 * An operation that settles when the test says so; counts its runs and
 * keeps each run's attempt context.
 */
function controlled<T>() {
  const runs: AttemptContext[] = [];
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const op = (ctx: AttemptContext) => {
    runs.push(ctx);
    return new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
  };
  return {
    runs,
    op,
    resolve: (value: T) => resolve(value),
    reject: (error: unknown) => reject(error),
  };
}

function coalescedEvents(events: readonly { type: string }[]): CoalescedEvent[] {
  return events.filter((e): e is CoalescedEvent => e.type === "coalesced");
}

Deno.test("coalesce: 5 callers with one key run the operation once and all get the same value", async () => {
  const { clock, rec, p } = setup();
  const op = controlled<{ id: number }>();
  const calls = [0, 1, 2, 3, 4].map(() => p.execute(op.op, { coalesceKey: "user:1" }));
  await clock.advance(0);
  assert.equal(op.runs.length, 1);
  const value = { id: 1 };
  op.resolve(value);
  const values = await Promise.all(calls);
  assert.equal(values.length, 5);
  for (const v of values) assert.equal(v, value); // the very same object
  assert.equal(op.runs.length, 1);
  // One event per joining call: 4 for 5 callers, callers 2..5.
  assert.deepEqual(
    coalescedEvents(rec.events),
    [2, 3, 4, 5].map((callers) => ({
      type: "coalesced",
      policy: "users",
      timestamp: 0,
      key: "user:1",
      callers,
    })),
  );
  assert.deepEqual(rec.types(), [
    "coalesced",
    "coalesced",
    "coalesced",
    "coalesced",
    "success",
  ]);
});

Deno.test("coalesce: an error is shared by every caller (the same error object)", async () => {
  const { clock, p } = setup();
  const op = controlled<string>();
  const calls = [0, 1, 2].map(() => settleLater(p.execute(op.op, { coalesceKey: "k" })));
  await clock.advance(0);
  const error = new PermanentError("no such user");
  op.reject(error);
  const outs = await Promise.all(calls);
  assert.deepEqual(outs, [
    { ok: false, error },
    { ok: false, error },
    { ok: false, error },
  ]);
  for (const out of outs) assert.ok(!out.ok && out.error === error);
  assert.equal(op.runs.length, 1);
});

Deno.test("coalesce: different keys run separately; calls without a key never join", async () => {
  const { clock, rec, p } = setup();
  let runs = 0;
  const op = (key: string) => () => {
    runs++;
    return clock.sleep(10).then(() => `${key}#${runs}`);
  };
  const a = p.execute(op("a"), { coalesceKey: "a" });
  const b = p.execute(op("b"), { coalesceKey: "b" });
  const a2 = p.execute(op("a"), { coalesceKey: "a" });
  const plain1 = p.execute(op("plain"));
  const plain2 = p.execute(op("plain"));
  await clock.advance(0);
  assert.equal(runs, 4);
  await clock.advance(10);
  assert.deepEqual(await Promise.all([a, b, a2, plain1, plain2]), [
    "a#4",
    "b#4",
    "a#4",
    "plain#4",
    "plain#4",
  ]);
  assert.deepEqual(coalescedEvents(rec.events).map((e) => [e.key, e.callers]), [["a", 2]]);
});

Deno.test("coalesce: after the shared call settles, the next call with the key runs again", async () => {
  const { clock, p } = setup();
  let runs = 0;
  const op = () => {
    runs++;
    return clock.sleep(10).then(() => runs);
  };
  const first = [p.execute(op, { coalesceKey: "k" }), p.execute(op, { coalesceKey: "k" })];
  await clock.advance(10);
  assert.deepEqual(await Promise.all(first), [1, 1]);
  const second = [p.execute(op, { coalesceKey: "k" }), p.execute(op, { coalesceKey: "k" })];
  await clock.advance(10);
  assert.deepEqual(await Promise.all(second), [2, 2]);
  // After a failure too.
  const failing = p.execute(() => Promise.reject(new PermanentError("x")), { coalesceKey: "k" });
  await assert.rejects(failing, PermanentError);
  const third = p.execute(op, { coalesceKey: "k" });
  await clock.advance(10);
  assert.equal(await third, 3);
});

Deno.test("coalesce: a joiner's abort rejects only that joiner; the shared operation's signal stays unaborted", async () => {
  const { clock, rec, p } = setup();
  const op = controlled<string>();
  const controllers = [0, 1, 2].map(() => new AbortController());
  const calls = controllers.map((c) =>
    settleLater(p.execute(op.op, { coalesceKey: "k", signal: c.signal }))
  );
  await clock.advance(0);
  assert.equal(op.runs.length, 1);
  const reason = new Error("joiner 2 left");
  controllers[1].abort(reason);
  assert.deepEqual(await calls[1], { ok: false, error: reason });
  assert.equal(op.runs[0].signal.aborted, false);
  // A caller joining now makes 3 callers (the one that left is not counted).
  const late = p.execute(op.op, { coalesceKey: "k" });
  assert.deepEqual(coalescedEvents(rec.events).map((e) => e.callers), [2, 3, 3]);
  // The first caller (who started the shared call) leaving does not abort it either.
  const reason0 = new Error("starter left");
  controllers[0].abort(reason0);
  assert.deepEqual(await calls[0], { ok: false, error: reason0 });
  assert.equal(op.runs[0].signal.aborted, false);
  op.resolve("shared");
  assert.deepEqual(await calls[2], { ok: true, value: "shared" });
  assert.equal(await late, "shared");
  assert.equal(op.runs.length, 1);
});

Deno.test("coalesce: when every caller has left, the shared operation is aborted; a later call starts fresh", async () => {
  const { clock, rec, p } = setup();
  const op = controlled<string>();
  const c1 = new AbortController();
  const c2 = new AbortController();
  const r1 = settleLater(p.execute(op.op, { coalesceKey: "k", signal: c1.signal }));
  const r2 = settleLater(p.execute(op.op, { coalesceKey: "k", signal: c2.signal }));
  await clock.advance(0);
  const reason1 = new Error("first left");
  const reason2 = new Error("last left");
  c1.abort(reason1);
  assert.equal(op.runs[0].signal.aborted, false);
  c2.abort(reason2);
  assert.deepEqual(await r1, { ok: false, error: reason1 });
  assert.deepEqual(await r2, { ok: false, error: reason2 });
  assert.equal(op.runs[0].signal.aborted, true);
  assert.equal(op.runs[0].signal.reason, reason2); // the last caller's reason
  // The shared call ended as cancelled: no fallback, no retry, nothing more ran.
  await clock.runAll();
  assert.equal(op.runs.length, 1);
  assert.deepEqual(rec.types(), ["coalesced"]);
  // A later call with the key starts a new shared call.
  const fresh = controlled<string>();
  const r3 = p.execute(fresh.op, { coalesceKey: "k" });
  await clock.advance(0);
  assert.equal(fresh.runs.length, 1);
  assert.equal(fresh.runs[0].signal.aborted, false);
  fresh.resolve("fresh");
  assert.equal(await r3, "fresh");
  assert.equal(op.runs.length, 1);
  assert.deepEqual(coalescedEvents(rec.events).length, 1);
});

Deno.test("coalesce: a caller without a signal keeps the shared call alive when the others leave", async () => {
  const { clock, p } = setup();
  // The caller without a signal starts the call; a joiner with one leaves.
  const op = controlled<string>();
  const keeper = p.execute(op.op, { coalesceKey: "k" });
  const c = new AbortController();
  const joiner = settleLater(p.execute(op.op, { coalesceKey: "k", signal: c.signal }));
  await clock.advance(0);
  const reason = new Error("joiner left");
  c.abort(reason);
  assert.deepEqual(await joiner, { ok: false, error: reason });
  assert.equal(op.runs[0].signal.aborted, false);
  op.resolve("kept");
  assert.equal(await keeper, "kept");
  // The starter has a signal and leaves; a joiner without one keeps it alive.
  const op2 = controlled<string>();
  const c2 = new AbortController();
  const starter = settleLater(p.execute(op2.op, { coalesceKey: "k", signal: c2.signal }));
  const keeper2 = p.execute(op2.op, { coalesceKey: "k" });
  await clock.advance(0);
  const reason2 = new Error("starter left");
  c2.abort(reason2);
  assert.deepEqual(await starter, { ok: false, error: reason2 });
  assert.equal(op2.runs[0].signal.aborted, false);
  op2.resolve("kept 2");
  assert.equal(await keeper2, "kept 2");
  assert.equal(op2.runs.length, 1);
});

Deno.test("coalesce: a caller whose signal is already aborted rejects at once and does not join", async () => {
  const { clock, rec, p } = setup();
  const op = controlled<string>();
  const running = p.execute(op.op, { coalesceKey: "k" });
  const reason = new Error("too late");
  await assert.rejects(
    p.execute(op.op, { coalesceKey: "k", signal: AbortSignal.abort(reason) }),
    (e) => e === reason,
  );
  assert.deepEqual(coalescedEvents(rec.events), []);
  await clock.advance(0);
  op.resolve("v");
  assert.equal(await running, "v");
  assert.equal(op.runs.length, 1);
});

Deno.test("coalesce: a coalesceKey that is not a string is a TypeError naming coalesceKey", async () => {
  const { p } = setup();
  let called = false;
  const fn = () => (called = true);
  for (
    const [value, message] of [
      [5, "coalesceKey must be a string: received 5"],
      [{}, "coalesceKey must be a string: received {}"],
      [true, "coalesceKey must be a string: received true"],
    ] as const
  ) {
    await assert.rejects(p.execute(fn, { coalesceKey: loose(value) }), (e: unknown) => {
      assert.equal(Object.getPrototypeOf(e), TypeError.prototype);
      assert.equal((e as Error).message, message);
      return true;
    });
  }
  assert.equal(called, false);
});

Deno.test("coalesce: each joining call is counted in bulwark.events with bulwark.event = coalesced", async () => {
  const otel = otelHarness();
  const clock = new VirtualClock(1_000);
  const p = policy("users", {
    clock,
    telemetry: { tracerProvider: otel.tracerProvider, meterProvider: otel.meterProvider },
  });
  try {
    const op = controlled<string>();
    const calls = [0, 1, 2, 3].map(() => p.execute(op.op, { coalesceKey: "k" }));
    await clock.advance(0);
    op.resolve("v");
    assert.deepEqual(await Promise.all(calls), ["v", "v", "v", "v"]);
    const rm = await otel.metrics();
    assert.equal(
      counterValue(rm, "bulwark.events", {
        "bulwark.policy.name": "users",
        "bulwark.event": "coalesced",
      }),
      3,
    );
    // One call span: the operation ran once.
    const spans = (await otel.spans()).filter((s) => s.name === "users");
    assert.equal(spans.length, 1);
    assert.equal(spans[0].attributes["bulwark.outcome"], "success");
  } finally {
    await otel.shutdown();
  }
});

Deno.test("coalesce: joining comes before the rate limit: 5 joiners take 1 token", async () => {
  const { clock, rec, p } = setup({ rateLimit: { ratePerSecond: 1, burst: 2 } });
  const op = controlled<string>();
  const calls = [0, 1, 2, 3, 4].map(() => p.execute(op.op, { coalesceKey: "k" }));
  await clock.advance(0);
  assert.equal(p.rateLimiter!.available, 1);
  op.resolve("v");
  assert.deepEqual(await Promise.all(calls), ["v", "v", "v", "v", "v"]);
  assert.equal(op.runs.length, 1);
  assert.ok(!rec.types().includes("rate_limited"));
});

Deno.test("coalesce: the shared call runs with the starter's options (its deadline), not a joiner's", async () => {
  const { clock, p } = setup({ retry: { maxAttempts: 1 } });
  const op = controlled<string>();
  const starter = settleLater(p.execute(op.op, { coalesceKey: "k", deadline: 100 }));
  const joiner = settleLater(p.execute(op.op, { coalesceKey: "k", deadline: 50 }));
  await clock.advance(99);
  assert.equal(op.runs[0].signal.aborted, false);
  assert.equal(op.runs[0].deadline, 100);
  await clock.advance(1);
  const [s, j] = [await starter, await joiner];
  assert.ok(!s.ok && !j.ok);
  assert.equal(s.error, j.error);
  assert.equal((s.error as Error).name, "DeadlineExceededError");
  assert.equal(op.runs[0].signal.aborted, true);
});

Deno.test("coalesce: when every caller leaves a shared call waiting for its token, the wait ends and the token is given back", async () => {
  const { clock, p } = setup({ rateLimit: { ratePerSecond: 10, burst: 1, maxWaitMs: 1_000 } });
  assert.equal(await p.execute(() => "takes the token"), "takes the token");
  const op = controlled<string>();
  const c1 = new AbortController();
  const c2 = new AbortController();
  const r1 = settleLater(p.execute(op.op, { coalesceKey: "k", signal: c1.signal }));
  const r2 = settleLater(p.execute(op.op, { coalesceKey: "k", signal: c2.signal }));
  await clock.advance(30); // the shared call waits for the token due at 100
  const reason1 = new Error("one");
  const reason2 = new Error("two");
  c1.abort(reason1);
  c2.abort(reason2);
  assert.deepEqual(await r1, { ok: false, error: reason1 });
  assert.deepEqual(await r2, { ok: false, error: reason2 });
  await clock.advance(70);
  assert.equal(op.runs.length, 0); // the operation never ran
  assert.equal(p.rateLimiter!.available, 1); // the reserved token came back
  assert.equal(clock.pending, 0);
});
