// policy({ rateLimit }): a token bucket taken once per call, after the
// deadline starts and before the bulkhead; a call waits for its token up to
// maxWaitMs and never past its deadline, else it is refused with
// RateLimitedError (outcome and event `rate_limited`). DESIGN.md §6.
import assert from "node:assert/strict";
import { SpanStatusCode } from "@opentelemetry/api";
import {
  BulkheadRejectedError,
  constant,
  policy,
  type PolicyOptions,
  RateLimitedError,
  RateLimiter,
  TransientError,
} from "../../mod.ts";
import { VirtualClock } from "../../testing.ts";
import { loose, recorder, settleLater } from "../_helpers.ts";
import { counterValue, histogramCount, otelHarness } from "../_otel.ts";

/** A policy in virtual time without telemetry, recording its events. */
function setup(options: PolicyOptions = {}) {
  const clock = new VirtualClock();
  const rec = recorder();
  const p = policy("api", { clock, telemetry: false, onEvent: rec.onEvent, ...options });
  return { clock, rec, p };
}

/** An operation that records the time each run starts at and returns its index. */
function startTimes(clock: VirtualClock) {
  const starts: number[] = [];
  return { starts, op: () => starts.push(clock.now()) - 1 };
}

/** Asserts `error` is exactly a RateLimitedError with these fields. */
function assertRateLimited(
  error: unknown,
  fields: { message: string; policy: string; retryAfterMs: number },
): void {
  assert.equal(Object.getPrototypeOf(error), RateLimitedError.prototype);
  const e = error as RateLimitedError;
  assert.deepEqual({ message: e.message, policy: e.policy, retryAfterMs: e.retryAfterMs }, fields);
}

Deno.test("policy rateLimit: 4 calls at t=0 (10/s, burst 2) start their operations at exactly 0, 0, 100, 200 ms", async () => {
  const { clock, rec, p } = setup({
    rateLimit: { ratePerSecond: 10, burst: 2, maxWaitMs: 1_000 },
  });
  const { starts, op } = startTimes(clock);
  const calls = [0, 1, 2, 3].map(() => p.execute(op));
  await clock.advance(0);
  assert.deepEqual(starts, [0, 0]);
  await clock.advance(99);
  assert.deepEqual(starts, [0, 0]);
  await clock.advance(1);
  assert.deepEqual(starts, [0, 0, 100]);
  await clock.advance(100);
  assert.deepEqual(starts, [0, 0, 100, 200]);
  assert.deepEqual(await Promise.all(calls), [0, 1, 2, 3]);
  assert.equal(p.rateLimiter!.available, 0);
  assert.equal(p.rateLimiter!.name, "api"); // a limiter of its own, named after the policy
  assert.deepEqual(rec.types(), ["success", "success", "success", "success"]); // no refusal
  // The same through the general loop (calls with a signal of their own).
  const again = setup({ rateLimit: { ratePerSecond: 10, burst: 2, maxWaitMs: 1_000 } });
  const t = startTimes(again.clock);
  const signal = new AbortController().signal;
  const loopCalls = [0, 1, 2, 3].map(() => again.p.execute(t.op, { signal }));
  await again.clock.runAll();
  await Promise.all(loopCalls);
  assert.deepEqual(t.starts, [0, 0, 100, 200]);
});

Deno.test("policy rateLimit: with maxWaitMs 0 the 3rd call is refused with RateLimitedError (retryAfterMs 100)", async () => {
  const { clock, rec, p } = setup({ rateLimit: { ratePerSecond: 10, burst: 2 } });
  const { starts, op } = startTimes(clock);
  assert.equal(await p.execute(op), 0);
  assert.equal(await p.execute(op), 1);
  const out = await settleLater(p.execute(op));
  assert.ok(!out.ok);
  assertRateLimited(out.error, {
    message: 'rate limiter "api" has no token within maxWaitMs 0 (next in 100 ms)',
    policy: "api",
    retryAfterMs: 100,
  });
  assert.deepEqual(starts, [0, 0]);
  assert.equal(clock.now(), 0);
  assert.deepEqual(rec.events.filter((e) => e.type === "rate_limited"), [
    { type: "rate_limited", policy: "api", timestamp: 0, retryAfterMs: 100 },
  ]);
  await clock.advance(100);
  assert.equal(await p.execute(op), 2);
  assert.deepEqual(starts, [0, 0, 100]);
});

Deno.test("policy rateLimit: a refused call's span and metrics say rate_limited", async () => {
  const otel = otelHarness();
  const clock = new VirtualClock(1_000);
  const rec = recorder();
  const p = policy("api", {
    clock,
    onEvent: rec.onEvent,
    telemetry: { tracerProvider: otel.tracerProvider, meterProvider: otel.meterProvider },
    rateLimit: { ratePerSecond: 10, burst: 2 },
  });
  try {
    assert.equal(await p.execute(() => "a"), "a");
    assert.equal(await p.execute(() => "b"), "b");
    const out = await settleLater(p.execute(() => "c"));
    assert.ok(!out.ok);
    assertRateLimited(out.error, {
      message: 'rate limiter "api" has no token within maxWaitMs 0 (next in 100 ms)',
      policy: "api",
      retryAfterMs: 100,
    });
    assert.deepEqual(rec.types(), ["success", "success", "rate_limited"]);
    const calls = (await otel.spans()).filter((s) => s.name === "api");
    assert.equal(calls.length, 3);
    const refused = calls[2];
    assert.deepEqual(refused.attributes, {
      "bulwark.policy.name": "api",
      "bulwark.attempts": 0,
      "bulwark.outcome": "rate_limited",
      "error.type": "RateLimitedError",
    });
    assert.equal(refused.status.code, SpanStatusCode.ERROR);
    const event = refused.events.find((e) => e.name === "bulwark.rate_limited");
    assert.ok(event !== undefined, "the rate_limited event is on the call span");
    assert.deepEqual(event.attributes, { "bulwark.retry_after_ms": 100 });
    const rm = await otel.metrics();
    assert.equal(
      histogramCount(rm, "bulwark.call.duration", {
        "bulwark.policy.name": "api",
        "bulwark.outcome": "rate_limited",
        "error.type": "RateLimitedError",
      }),
      1,
    );
    assert.equal(
      histogramCount(rm, "bulwark.call.duration", { "bulwark.outcome": "success" }),
      2,
    );
    assert.equal(
      counterValue(rm, "bulwark.events", {
        "bulwark.policy.name": "api",
        "bulwark.event": "rate_limited",
      }),
      1,
    );
  } finally {
    await otel.shutdown();
  }
});

Deno.test("policy rateLimit: a wait is never past the deadline: a token due at 100 with deadlineMs 50 is refused at once", async () => {
  const { clock, rec, p } = setup({
    deadlineMs: 50,
    rateLimit: { ratePerSecond: 10, burst: 2, maxWaitMs: 1_000 },
  });
  const { starts, op } = startTimes(clock);
  await p.execute(op);
  await p.execute(op);
  const out = await settleLater(p.execute(op));
  assert.ok(!out.ok);
  assertRateLimited(out.error, {
    message: 'rate limiter "api" has no token before the deadline (next in 100 ms)',
    policy: "api",
    retryAfterMs: 100,
  });
  assert.equal(clock.now(), 0); // refused at once, not at the deadline
  assert.equal(clock.pending, 0);
  assert.deepEqual(starts, [0, 0]);
  assert.deepEqual(rec.types(), ["success", "success", "rate_limited"]);
  // The refusal reserved nothing: the next token is still due at 100.
  assert.equal(p.rateLimiter!.retryAfterMs(), 100);
});

Deno.test("policy rateLimit: a token due before the deadline is waited for; a per-call deadline counts too", async () => {
  const { clock, p } = setup({
    deadlineMs: 150,
    rateLimit: { ratePerSecond: 10, burst: 1, maxWaitMs: 1_000 },
  });
  const { starts, op } = startTimes(clock);
  const first = p.execute(op); // 0
  const second = settleLater(p.execute(op)); // token due at 100 < 150: waits
  const third = settleLater(p.execute(op)); // token due at 200 >= 150: refused at once
  await clock.advance(0);
  const t = await third;
  assert.ok(!t.ok);
  assertRateLimited(t.error, {
    message: 'rate limiter "api" has no token before the deadline (next in 200 ms)',
    policy: "api",
    retryAfterMs: 200,
  });
  await clock.advance(100);
  assert.deepEqual(await second, { ok: true, value: 1 });
  assert.equal(await first, 0);
  assert.deepEqual(starts, [0, 100]);
  // A per-call absolute deadline, earlier than the policy's.
  const fourth = await settleLater(p.execute(op, { deadline: clock.now() + 99 }));
  assert.ok(!fourth.ok);
  assertRateLimited(fourth.error, {
    message: 'rate limiter "api" has no token before the deadline (next in 100 ms)',
    policy: "api",
    retryAfterMs: 100,
  });
  assert.equal(clock.now(), 100);
});

Deno.test("policy rateLimit: the caller's abort while waiting rejects with its reason and gives the token back", async () => {
  const { clock, rec, p } = setup({
    rateLimit: { ratePerSecond: 10, burst: 1, maxWaitMs: 1_000 },
  });
  const { starts, op } = startTimes(clock);
  await p.execute(op); // takes the only token at 0
  const controller = new AbortController();
  const waiting = settleLater(p.execute(op, { signal: controller.signal })); // due at 100
  await clock.advance(30);
  const reason = new Error("caller left");
  controller.abort(reason);
  assert.deepEqual(await waiting, { ok: false, error: reason });
  assert.deepEqual(starts, [0]);
  // Its token is back: a call now waits only for the rest of the first
  // interval (70 ms), not for a second one.
  const next = p.execute(op);
  await clock.advance(69);
  assert.deepEqual(starts, [0]);
  await clock.advance(1);
  assert.equal(await next, 1);
  assert.deepEqual(starts, [0, 100]);
  assert.equal(p.rateLimiter!.available, 0);
  assert.deepEqual(rec.types(), ["success", "success"]);
  await clock.runAll();
  assert.equal(clock.pending, 0);
});

Deno.test("policy rateLimit: the abort gives the token back: available is 1 at 100 ms", async () => {
  const { clock, p } = setup({
    rateLimit: { ratePerSecond: 10, burst: 1, maxWaitMs: 1_000 },
  });
  await p.execute(() => "first");
  const controller = new AbortController();
  const waiting = settleLater(p.execute(() => "never", { signal: controller.signal }));
  await clock.advance(30);
  controller.abort(new Error("left"));
  await waiting;
  assert.equal(p.rateLimiter!.available, 0);
  await clock.advance(70);
  assert.equal(p.rateLimiter!.available, 1);
});

Deno.test("policy rateLimit: a shared RateLimiter: calls of two policies draw from one bucket", async () => {
  const clock = new VirtualClock();
  const limiter = new RateLimiter({
    name: "shared",
    ratePerSecond: 10,
    burst: 2,
    maxWaitMs: 1_000,
    clock,
  });
  const a = policy("a", { clock, telemetry: false, rateLimit: limiter });
  const b = policy("b", { clock, telemetry: false, rateLimit: limiter });
  assert.equal(a.rateLimiter, limiter);
  assert.equal(b.rateLimiter, limiter);
  const starts: string[] = [];
  const op = (name: string) => () => starts.push(`${name}@${clock.now()}`);
  const calls = [a, b, a, b, a].map((p) => p.execute(op(p.name)));
  await clock.runAll();
  await Promise.all(calls);
  assert.deepEqual(starts, ["a@0", "b@0", "a@100", "b@200", "a@300"]);
  assert.equal(limiter.available, 0);
});

Deno.test("policy rateLimit: a shared limiter's refusal names the policy and is reported by that policy only", async () => {
  const clock = new VirtualClock();
  const limiter = new RateLimiter({ name: "shared", ratePerSecond: 10, burst: 1, clock });
  const ra = recorder();
  const rb = recorder();
  const a = policy("a", { clock, telemetry: false, onEvent: ra.onEvent, rateLimit: limiter });
  const b = policy("b", { clock, telemetry: false, onEvent: rb.onEvent, rateLimit: limiter });
  assert.equal(await a.execute(() => "a"), "a");
  const out = await settleLater(b.execute(() => "b"));
  assert.ok(!out.ok);
  assertRateLimited(out.error, {
    message: 'rate limiter "shared" has no token within maxWaitMs 0 (next in 100 ms)',
    policy: "b",
    retryAfterMs: 100,
  });
  assert.deepEqual(ra.types(), ["success"]);
  assert.deepEqual(rb.events, [
    { type: "rate_limited", policy: "b", timestamp: 0, retryAfterMs: 100 },
  ]);
});

Deno.test("policy rateLimit: taken before the bulkhead: a refused call never takes a permit", async () => {
  const { clock, rec, p } = setup({
    rateLimit: { ratePerSecond: 10, burst: 1 },
    bulkhead: { maxConcurrent: 1, maxQueue: 0 },
  });
  const { starts, op } = startTimes(clock);
  assert.equal(await p.execute(op), 0);
  assert.equal(p.bulkhead!.inFlight, 0);
  const refused = await settleLater(p.execute(() => {
    starts.push(-1);
    return -1;
  }, {
    signal: new AbortController().signal,
  }));
  assert.ok(!refused.ok && refused.error instanceof RateLimitedError);
  assert.equal(p.bulkhead!.inFlight, 0);
  // With the bulkhead full as well, the call is refused by the rate limiter,
  // the part it meets first, not by the bulkhead.
  await clock.advance(100);
  let release!: (v: number) => void;
  const holder = p.execute(() => new Promise<number>((r) => (release = r)));
  assert.equal(p.bulkhead!.inFlight, 1);
  const second = await settleLater(p.execute(() => -2));
  assert.ok(!second.ok);
  assert.ok(second.error instanceof RateLimitedError);
  assert.ok(!(second.error instanceof BulkheadRejectedError));
  assert.equal(p.bulkhead!.inFlight, 1); // the holder's permit only
  assert.deepEqual(rec.types(), ["success", "rate_limited", "rate_limited"]);
  release(7);
  assert.equal(await holder, 7);
  assert.equal(p.bulkhead!.inFlight, 0);
  assert.deepEqual(starts, [0]);
});

Deno.test("policy rateLimit: a call waiting for its token holds no bulkhead permit and sits in no queue", async () => {
  const { clock, p } = setup({
    rateLimit: { ratePerSecond: 10, burst: 1, maxWaitMs: 1_000 },
    bulkhead: { maxConcurrent: 1, maxQueue: 5 },
  });
  const { starts, op } = startTimes(clock);
  await p.execute(op);
  let release!: () => void;
  const waiting = p.execute(() => {
    starts.push(clock.now());
    return new Promise<string>((r) => (release = () => r("done")));
  });
  await clock.advance(50);
  assert.deepEqual(starts, [0]);
  assert.equal(p.bulkhead!.inFlight, 0);
  assert.equal(p.bulkhead!.queued, 0);
  await clock.advance(50);
  assert.deepEqual(starts, [0, 100]);
  assert.equal(p.bulkhead!.inFlight, 1);
  release();
  assert.equal(await waiting, "done");
  assert.equal(p.bulkhead!.inFlight, 0);
});

Deno.test("policy rateLimit: one token per call, not per retry: a call retried 3 times takes 1 token", async () => {
  const { clock, rec, p } = setup({
    rateLimit: { ratePerSecond: 1, burst: 5 },
    retry: { maxAttempts: 4, backoff: constant(0) },
  });
  const flaky = () => {
    let n = 0;
    return () => (++n < 4 ? Promise.reject(new TransientError("blip")) : Promise.resolve(n));
  };
  assert.equal(p.rateLimiter!.available, 5);
  assert.equal(await p.execute(flaky()), 4); // the fast path's call, continued in the loop
  assert.equal(p.rateLimiter!.available, 4);
  assert.equal(await p.execute(flaky(), { signal: new AbortController().signal }), 4);
  assert.equal(p.rateLimiter!.available, 3);
  assert.equal(clock.now(), 0);
  assert.deepEqual(rec.types(), [
    "retry",
    "retry",
    "retry",
    "success",
    "retry",
    "retry",
    "retry",
    "success",
  ]);
});

Deno.test("policy rateLimit: a hedged call takes one token for all its attempts", async () => {
  const { clock, p } = setup({
    rateLimit: { ratePerSecond: 1, burst: 5 },
    hedge: { delayMs: 10, maxHedges: 2 },
    retry: { maxAttempts: 3 },
  });
  const starts: number[] = [];
  const r = p.execute(() => {
    starts.push(clock.now());
    return clock.sleep(100).then(() => starts.length);
  });
  await clock.advance(100);
  assert.equal(await r, 3);
  assert.deepEqual(starts, [0, 10, 20]);
  // 5 tokens, 1 taken at 0, 0.1 earned by 100 ms.
  assert.equal(p.rateLimiter!.available, 4);
  await clock.runAll();
});

Deno.test("policy rateLimit: bad options name the option path", () => {
  const cases: [unknown, ErrorConstructor, string][] = [
    [{ ratePerSecond: 0 }, RangeError, "rateLimit.ratePerSecond must be a number > 0: received 0"],
    [
      { ratePerSecond: "10" },
      TypeError,
      'rateLimit.ratePerSecond must be a number > 0: received "10"',
    ],
    [{}, TypeError, "rateLimit.ratePerSecond must be a number > 0: received undefined"],
    [
      { ratePerSecond: 10, burst: 0 },
      RangeError,
      "rateLimit.burst must be an integer between 1 and 1000000: received 0",
    ],
    [
      { ratePerSecond: 10, burst: 1.5 },
      RangeError,
      "rateLimit.burst must be an integer between 1 and 1000000: received 1.5",
    ],
    [
      { ratePerSecond: 10, maxWaitMs: -1 },
      RangeError,
      "rateLimit.maxWaitMs must be a number >= 0: received -1",
    ],
    [
      { rate: 10 },
      TypeError,
      "rateLimit.rate is not a known option (expected one of: name, ratePerSecond, burst, maxWaitMs, clock, onEvent)",
    ],
    [5, TypeError, "rateLimit must be an object: received 5"],
    [[], TypeError, "rateLimit must be an object: received an array"],
    [null, TypeError, "rateLimit must be left out for its default, not null: received null"],
  ];
  for (const [rateLimit, Class, message] of cases) {
    assert.throws(() => policy("p", { telemetry: false, rateLimit: loose(rateLimit) }), (e) => {
      assert.equal(Object.getPrototypeOf(e), Class.prototype, `${message}: expected ${Class.name}`);
      assert.equal((e as Error).message, message);
      return true;
    });
  }
});

Deno.test("policy rateLimit: maxWaitMs is respected to the millisecond: a wait of exactly maxWaitMs runs, a longer one is refused", async () => {
  const { clock, rec, p } = setup({
    rateLimit: { ratePerSecond: 10, burst: 2, maxWaitMs: 100 },
  });
  const { starts, op } = startTimes(clock);
  const calls = [0, 1, 2, 3].map(() => settleLater(p.execute(op)));
  await clock.advance(0);
  const fourth = await calls[3];
  assert.ok(!fourth.ok);
  assertRateLimited(fourth.error, {
    message: 'rate limiter "api" has no token within maxWaitMs 100 (next in 200 ms)',
    policy: "api",
    retryAfterMs: 200,
  });
  await clock.advance(100);
  assert.deepEqual(await Promise.all(calls.slice(0, 3)), [
    { ok: true, value: 0 },
    { ok: true, value: 1 },
    { ok: true, value: 2 },
  ]);
  assert.deepEqual(starts, [0, 0, 100]);
  // (The 4th call is refused synchronously, before the fast path reports its successes.)
  assert.deepEqual(rec.types(), ["rate_limited", "success", "success", "success"]);
});

Deno.test("policy rateLimit: the deadline boundary: a token due exactly at the deadline is refused, 1 ms before it is waited for", async () => {
  for (const [deadlineMs, expected] of [[100, "refused"], [101, "ran at 100"]] as const) {
    const { clock, p } = setup({
      deadlineMs,
      rateLimit: { ratePerSecond: 10, burst: 1, maxWaitMs: 1_000 },
    });
    await p.execute(() => "first");
    const r = settleLater(p.execute(() => `ran at ${clock.now()}`));
    await clock.runAll();
    const out = await r;
    if (expected === "refused") {
      assert.ok(!out.ok);
      assertRateLimited(out.error, {
        message: 'rate limiter "api" has no token before the deadline (next in 100 ms)',
        policy: "api",
        retryAfterMs: 100,
      });
    } else {
      assert.deepEqual(out, { ok: true, value: expected });
    }
  }
});
