import assert from "node:assert/strict";
import { RateLimiter, type RateLimiterOptions } from "../../src/ratelimit/rate_limiter.ts";
import { RateLimitedError } from "../../src/core/errors.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import {
  loose,
  recorder,
  rejectsExactly,
  settleLater,
  SteppingClock,
  throwsExactly,
} from "../_helpers.ts";

/** Asserts that `p` rejects with a `RateLimitedError` carrying exactly these fields. */
async function rateLimited(
  p: Promise<unknown>,
  fields: { message: string; policy: string; retryAfterMs: number },
): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.equal(Object.getPrototypeOf(e), RateLimitedError.prototype);
    const error = e as RateLimitedError;
    assert.deepEqual(
      { message: error.message, policy: error.policy, retryAfterMs: error.retryAfterMs },
      fields,
    );
    return true;
  });
}

/** Starts an acquire and records the clock time at which it resolves. */
function timed(clock: VirtualClock, p: Promise<void>, times: number[]): Promise<void> {
  return p.then(() => {
    times.push(clock.now());
  });
}

Deno.test("rate limiter: a full burst at once, then waiters get tokens at exactly 100, 200 and 300 ms", async () => {
  const clock = new VirtualClock();
  const limiter = new RateLimiter({ ratePerSecond: 10, burst: 2, maxWaitMs: 10_000, clock });
  assert.equal(limiter.available, 2);
  const times: number[] = [];
  const first = [timed(clock, limiter.acquire(), times), timed(clock, limiter.acquire(), times)];
  await Promise.all(first); // no time passes: the bucket started full
  assert.deepEqual(times, [0, 0]);
  assert.equal(clock.timersCreated, 0); // no wait, no timer
  const waiters = [1, 2, 3].map(() => timed(clock, limiter.acquire(), times));
  assert.equal(clock.pending, 3);
  assert.equal(limiter.available, 0);
  await clock.advance(299);
  assert.deepEqual(times, [0, 0, 100, 200]);
  await clock.advance(1);
  await Promise.all(waiters);
  assert.deepEqual(times, [0, 0, 100, 200, 300]);
  assert.equal(clock.pending, 0);
  assert.equal(limiter.available, 0);
  assert.equal(limiter.retryAfterMs(), 100);
});

Deno.test("rate limiter: acquire() with a free token settles within the same tick, with no timer", async () => {
  const clock = new VirtualClock();
  const limiter = new RateLimiter({ ratePerSecond: 1, burst: 3, clock });
  let resolved = 0;
  for (let i = 0; i < 3; i++) limiter.acquire().then(() => resolved++);
  await Promise.resolve();
  assert.equal(resolved, 3);
  assert.equal(clock.timersCreated, 0);
  assert.equal(limiter.available, 0);
});

Deno.test("rate limiter: a wait longer than maxWaitMs is refused at once with the exact retryAfterMs and event", async () => {
  const clock = new VirtualClock(1_000);
  const { events, onEvent } = recorder();
  const limiter = new RateLimiter({
    name: "api",
    ratePerSecond: 10,
    burst: 1,
    maxWaitMs: 150,
    clock,
    onEvent,
  });
  assert.equal(limiter.tryAcquire(), true);
  const times: number[] = [];
  const waiter = timed(clock, limiter.acquire(), times); // waits 100 ms: within 150
  await rateLimited(limiter.acquire(), {
    message: 'rate limiter "api" has no token within maxWaitMs 150 (next in 200 ms)',
    policy: "api",
    retryAfterMs: 200,
  });
  assert.deepEqual(events, [
    { type: "rate_limited", policy: "api", timestamp: 1_000, retryAfterMs: 200 },
  ]);
  // The refused call reserved nothing: the next caller still waits 200 ms, not 300.
  assert.equal(limiter.retryAfterMs(), 200);
  assert.equal(clock.pending, 1);
  await clock.advance(100);
  await waiter;
  assert.deepEqual(times, [1_100]);
  assert.equal(clock.timersCreated, 1);
});

Deno.test("rate limiter: a wait of exactly maxWaitMs is allowed; the default maxWaitMs 0 refuses any wait", async () => {
  const clock = new VirtualClock();
  const limiter = new RateLimiter({ ratePerSecond: 10, burst: 1, maxWaitMs: 100, clock });
  limiter.tryAcquire();
  const times: number[] = [];
  const waiter = timed(clock, limiter.acquire(), times);
  await clock.advance(100);
  await waiter;
  assert.deepEqual(times, [100]);

  const strict = new RateLimiter({ ratePerSecond: 10, clock });
  assert.equal(strict.maxWaitMs, 0);
  for (let i = 0; i < 10; i++) await strict.acquire();
  await rateLimited(strict.acquire(), {
    message: 'rate limiter "rate-limiter" has no token within maxWaitMs 0 (next in 100 ms)',
    policy: "rate-limiter",
    retryAfterMs: 100,
  });
});

Deno.test("rate limiter: a wait that would end at or after the deadline is refused at once", async () => {
  const clock = new VirtualClock();
  const { events, onEvent } = recorder();
  const limiter = new RateLimiter({
    name: "search",
    ratePerSecond: 10,
    burst: 1,
    maxWaitMs: 5_000,
    clock,
    onEvent,
  });
  limiter.tryAcquire();
  await clock.advance(20); // the next token is due at 100
  await rateLimited(limiter.acquire({ deadline: 100, policy: "checkout" }), {
    message: 'rate limiter "search" has no token before the deadline (next in 80 ms)',
    policy: "checkout",
    retryAfterMs: 80,
  });
  assert.deepEqual(events, [
    { type: "rate_limited", policy: "checkout", timestamp: 20, retryAfterMs: 80 },
  ]);
  assert.equal(clock.timersCreated, 0);
  const times: number[] = [];
  const waiter = timed(clock, limiter.acquire({ deadline: 101 }), times);
  await clock.advance(80);
  await waiter;
  assert.deepEqual(times, [100]);
  // A free token is taken whatever the deadline: there is no wait to refuse.
  await clock.advance(100);
  await limiter.acquire({ deadline: 0 });
  assert.equal(events.length, 1);
});

Deno.test("rate limiter: an aborted waiter rejects with the signal's reason and gives its token back", async () => {
  const clock = new VirtualClock();
  const limiter = new RateLimiter({ ratePerSecond: 10, burst: 1, maxWaitMs: 10_000, clock });
  limiter.tryAcquire();
  const controller = new AbortController();
  const aborted = settleLater(limiter.acquire({ signal: controller.signal })); // due at 100
  const times: number[] = [];
  const second = timed(clock, limiter.acquire(), times); // due at 200
  assert.equal(limiter.retryAfterMs(), 300);
  await clock.advance(50);
  const reason = new Error("caller gone");
  controller.abort(reason);
  assert.deepEqual(await aborted, { ok: false, error: reason });
  assert.equal(clock.pending, 1); // the aborted wait left no timer
  // Its reservation is back: a new caller waits until 200, not 300.
  assert.equal(limiter.retryAfterMs(), 150);
  const third = timed(clock, limiter.acquire(), times);
  await clock.advance(150);
  await Promise.all([second, third]);
  assert.deepEqual(times, [200, 200]);
  assert.equal(limiter.available, 0);
  assert.equal(limiter.retryAfterMs(), 100);
});

Deno.test("rate limiter: an already aborted signal rejects at once and takes no token", async () => {
  const clock = new VirtualClock();
  const limiter = new RateLimiter({ ratePerSecond: 10, burst: 2, clock });
  const reason = new Error("already gone");
  const p = limiter.acquire({ signal: AbortSignal.abort(reason) });
  assert.deepEqual(await settleLater(p), { ok: false, error: reason });
  assert.equal(limiter.available, 2);
});

Deno.test("rate limiter: tryAcquire() cannot take a token reserved by a waiter", async () => {
  const clock = new VirtualClock();
  const { events, onEvent } = recorder();
  const limiter = new RateLimiter({
    ratePerSecond: 10,
    burst: 3,
    maxWaitMs: 1_000,
    clock,
    onEvent,
  });
  for (let i = 0; i < 3; i++) assert.equal(limiter.tryAcquire(), true);
  assert.equal(limiter.tryAcquire(), false);
  const times: number[] = [];
  const waiters = [timed(clock, limiter.acquire(), times), timed(clock, limiter.acquire(), times)];
  await clock.advance(100);
  // One token has come in, but it is the first waiter's.
  assert.equal(limiter.tryAcquire(), false);
  await clock.advance(150);
  await Promise.all(waiters);
  assert.deepEqual(times, [100, 200]);
  assert.equal(limiter.tryAcquire(), false); // 0.5 tokens
  await clock.advance(50);
  assert.equal(limiter.tryAcquire(), true);
  assert.equal(limiter.tryAcquire(), false);
  assert.deepEqual(events, []); // tryAcquire reports nothing
});

Deno.test("rate limiter: available is whole tokens, never negative, capped at burst after a long idle", async () => {
  const clock = new VirtualClock();
  const limiter = new RateLimiter({ ratePerSecond: 10, burst: 5, maxWaitMs: 10_000, clock });
  for (let i = 0; i < 5; i++) limiter.tryAcquire();
  assert.equal(limiter.available, 0);
  const waiters = [1, 2, 3].map(() => limiter.acquire());
  assert.equal(limiter.available, 0); // the count is -3 inside
  assert.equal(limiter.retryAfterMs(), 400);
  await clock.advance(300);
  await Promise.all(waiters);
  await clock.advance(150);
  assert.equal(limiter.available, 1); // 1.5 tokens
  await clock.advance(3_600_000);
  assert.equal(limiter.available, 5);
  assert.equal(limiter.retryAfterMs(), 0);
  for (let i = 0; i < 5; i++) assert.equal(limiter.tryAcquire(), true);
  assert.equal(limiter.tryAcquire(), false);
});

Deno.test("rate limiter: a token earned in ten steps of a tenth is a whole token", async () => {
  const clock = new VirtualClock();
  const limiter = new RateLimiter({ ratePerSecond: 10, burst: 1, clock });
  limiter.tryAcquire();
  // 0.1 added ten times is 0.9999999999999999 in floating point.
  for (let i = 0; i < 10; i++) {
    await clock.advance(10);
    assert.equal(limiter.retryAfterMs(), 90 - 10 * i);
  }
  assert.equal(limiter.available, 1);
  assert.equal(limiter.tryAcquire(), true);
});

Deno.test("rate limiter: a fractional interval: 3 per second waits 1000/3 ms, reported as 334", async () => {
  const clock = new VirtualClock();
  const limiter = new RateLimiter({ name: "slow", ratePerSecond: 3, burst: 1, clock });
  limiter.tryAcquire();
  assert.equal(limiter.retryAfterMs(), 334);
  await rateLimited(limiter.acquire(), {
    message: 'rate limiter "slow" has no token within maxWaitMs 0 (next in 334 ms)',
    policy: "slow",
    retryAfterMs: 334,
  });
  const patient = new RateLimiter({ ratePerSecond: 3, burst: 1, maxWaitMs: 334, clock });
  patient.tryAcquire();
  const times: number[] = [];
  const waiter = timed(clock, patient.acquire(), times);
  await clock.advance(334);
  await waiter;
  assert.deepEqual(times, [1000 / 3]);
});

Deno.test("rate limiter: a clock that steps back creates no tokens; the refill goes on from the new reading", async () => {
  const time = new VirtualClock(10_000);
  const clock = new SteppingClock(time);
  const limiter = new RateLimiter({ ratePerSecond: 10, burst: 5, clock });
  for (let i = 0; i < 5; i++) limiter.tryAcquire();
  await time.advance(100);
  assert.equal(limiter.available, 1);
  clock.offset = -5_000; // set back by five seconds
  assert.equal(limiter.available, 1);
  assert.equal(limiter.retryAfterMs(), 0);
  assert.equal(limiter.tryAcquire(), true);
  assert.equal(limiter.tryAcquire(), false);
  assert.equal(limiter.retryAfterMs(), 100);
  await time.advance(100);
  assert.equal(limiter.available, 1); // earned since the earlier reading
  clock.offset = -5_050; // back by 50 ms again (seen at this reading), then forward
  assert.equal(limiter.available, 1);
  await time.advance(40);
  assert.equal(limiter.available, 1); // 0.4 earned after the step back: 1.4
  await time.advance(60);
  assert.equal(limiter.available, 2);
});

Deno.test("rate limiter: two policies sharing one limiter draw from one bucket", async () => {
  const clock = new VirtualClock();
  const { events, onEvent } = recorder();
  const shared = new RateLimiter({
    name: "shared",
    ratePerSecond: 10,
    burst: 2,
    maxWaitMs: 100,
    clock,
    onEvent,
  });
  const seen: string[] = [];
  shared.events.add((e) => seen.push(e.policy));
  await shared.acquire({ policy: "orders" });
  await shared.acquire({ policy: "users" });
  const times: number[] = [];
  const orders = timed(clock, shared.acquire({ policy: "orders" }), times); // due at 100
  await rateLimited(shared.acquire({ policy: "users" }), {
    message: 'rate limiter "shared" has no token within maxWaitMs 100 (next in 200 ms)',
    policy: "users",
    retryAfterMs: 200,
  });
  assert.deepEqual(events, [
    { type: "rate_limited", policy: "users", timestamp: 0, retryAfterMs: 200 },
  ]);
  assert.deepEqual(seen, ["users"]);
  await clock.advance(100);
  await orders;
  assert.deepEqual(times, [100]);
  const users = timed(clock, shared.acquire({ policy: "users" }), times);
  await clock.advance(100);
  await users;
  assert.deepEqual(times, [100, 200]);
});

Deno.test("rate limiter: defaults and readonly settings", () => {
  const limiter = new RateLimiter({ ratePerSecond: 2.5 });
  assert.deepEqual(
    {
      name: limiter.name,
      ratePerSecond: limiter.ratePerSecond,
      burst: limiter.burst,
      maxWaitMs: limiter.maxWaitMs,
      active: limiter.events.active,
    },
    { name: "rate-limiter", ratePerSecond: 2.5, burst: 2, maxWaitMs: 0, active: false },
  );
  assert.equal(new RateLimiter({ ratePerSecond: 0.2 }).burst, 1);
  assert.equal(new RateLimiter({ ratePerSecond: 5e9 }).burst, 1_000_000);
  assert.equal(new RateLimiter({ ratePerSecond: 100, burst: 7 }).available, 7);
});

Deno.test("rate limiter: every bad option is rejected, naming the option and the value", () => {
  const make = (options: unknown) => () => new RateLimiter(loose(options));
  const clock = new VirtualClock();
  const cases: [() => unknown, RangeErrorConstructor | TypeErrorConstructor, string][] = [
    [make(null), TypeError, "options must be an object: received null"],
    [make(undefined), TypeError, "options must be an object: received undefined"],
    [make({}), TypeError, "ratePerSecond must be a number > 0: received undefined"],
    [make({ ratePerSecond: NaN }), RangeError, "ratePerSecond must be a number > 0: received NaN"],
    [make({ ratePerSecond: 0 }), RangeError, "ratePerSecond must be a number > 0: received 0"],
    [make({ ratePerSecond: -5 }), RangeError, "ratePerSecond must be a number > 0: received -5"],
    [
      make({ ratePerSecond: Infinity }),
      RangeError,
      "ratePerSecond must be a number > 0: received Infinity",
    ],
    [make({ ratePerSecond: "10" }), TypeError, 'ratePerSecond must be a number > 0: received "10"'],
    [
      make({ ratePerSecond: 10, burst: 1.5 }),
      RangeError,
      "burst must be an integer between 1 and 1000000: received 1.5",
    ],
    [
      make({ ratePerSecond: 10, burst: 0 }),
      RangeError,
      "burst must be an integer between 1 and 1000000: received 0",
    ],
    [
      make({ ratePerSecond: 10, burst: 1e9 }),
      RangeError,
      "burst must be an integer between 1 and 1000000: received 1000000000",
    ],
    [
      make({ ratePerSecond: 10, burst: NaN }),
      RangeError,
      "burst must be an integer between 1 and 1000000: received NaN",
    ],
    [
      make({ ratePerSecond: 10, maxWaitMs: -1 }),
      RangeError,
      "maxWaitMs must be a number >= 0: received -1",
    ],
    [
      make({ ratePerSecond: 10, maxWaitMs: NaN }),
      RangeError,
      "maxWaitMs must be a number >= 0: received NaN",
    ],
    [
      make({ ratePerSecond: 10, maxWaitMs: Infinity }),
      RangeError,
      "maxWaitMs must be a number >= 0: received Infinity",
    ],
    [
      make({ ratePerSecond: 10, name: "" }),
      TypeError,
      'name must be a non-empty string: received ""',
    ],
    [
      make({ ratePerSecond: 10, name: " " }),
      TypeError,
      'name must be a non-empty string: received " "',
    ],
    [
      make({ ratePerSecond: 10, clock: { now: () => 0 } }),
      TypeError,
      "clock must be a Clock (now, sleep): received {}",
    ],
    [
      make({ ratePerSecond: 10, onEvent: "log" }),
      TypeError,
      'onEvent must be a function: received "log"',
    ],
    [
      make({ ratePerSecond: 10, rate: 10 }),
      TypeError,
      "rate is not a known option (expected one of: name, ratePerSecond, burst, maxWaitMs, clock, onEvent)",
    ],
  ];
  for (const key of ["name", "ratePerSecond", "burst", "maxWaitMs", "clock", "onEvent"]) {
    cases.push([
      make({ ratePerSecond: 10, clock, [key]: null }),
      TypeError,
      `${key} must be left out for its default, not null: received null`,
    ]);
  }
  for (const [fn, Class, message] of cases) throwsExactly(fn, Class, message);
});

Deno.test("rate limiter: bad acquire() options reject, naming the option, and take no token", async () => {
  const clock = new VirtualClock();
  const limiter = new RateLimiter({ ratePerSecond: 10, burst: 1, clock });
  const cases: [
    RateLimiterOptions | unknown,
    RangeErrorConstructor | TypeErrorConstructor,
    string,
  ][] = [
    [null, TypeError, "options must be an object: received null"],
    [
      { timeout: 5 },
      TypeError,
      "timeout is not a known option (expected one of: signal, deadline, policy)",
    ],
    [{ signal: "stop" }, TypeError, 'signal must be an AbortSignal: received "stop"'],
    [
      { deadline: NaN },
      RangeError,
      "deadline must be a number (clock milliseconds): received NaN",
    ],
    [
      { deadline: "soon" },
      TypeError,
      'deadline must be a number (clock milliseconds): received "soon"',
    ],
    [{ policy: "" }, TypeError, 'policy must be a non-empty string: received ""'],
    [{ policy: 7 }, TypeError, "policy must be a non-empty string: received 7"],
  ];
  for (const key of ["signal", "deadline", "policy"]) {
    cases.push([
      { [key]: null },
      TypeError,
      `${key} must be left out for its default, not null: received null`,
    ]);
  }
  for (const [options, Class, message] of cases) {
    await rejectsExactly(limiter.acquire(loose(options)), Class, message);
  }
  assert.equal(limiter.available, 1);
  await limiter.acquire({ deadline: Infinity, policy: "p" });
  assert.equal(limiter.available, 0);
});
