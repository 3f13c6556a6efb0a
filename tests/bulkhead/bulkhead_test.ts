import assert from "node:assert/strict";
import { Bulkhead, type BulkheadPermit } from "../../src/bulkhead/bulkhead.ts";
import { BulkheadRejectedError } from "../../src/core/errors.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { systemClock } from "../../src/core/clock.ts";
import { recorder, settleLater } from "../_helpers.ts";
import { loose, rejectsExactly, throwsExactly } from "../_helpers.ts";

/** True once `p` has settled (checked after the pending microtasks ran). */
async function isSettled(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  p.then(() => (settled = true), () => (settled = true));
  await new Promise((resolve) => setTimeout(resolve, 0));
  return settled;
}

Deno.test("bulkhead: 50 tasks never run more than maxConcurrent at once, and start in order", async () => {
  const clock = new VirtualClock();
  const bulkhead = new Bulkhead({ maxConcurrent: 3, maxQueue: 100, clock });
  let running = 0;
  let peak = 0;
  const starts: number[] = [];
  // durations vary so that tasks finish out of order
  const duration = (i: number) => 10 + ((i * 37) % 50);
  const tasks = Array.from({ length: 50 }, (_, i) =>
    bulkhead.execute(async () => {
      starts.push(i);
      peak = Math.max(peak, ++running);
      await clock.sleep(duration(i));
      running--;
      return i;
    }));
  assert.equal(bulkhead.inFlight, 3);
  assert.equal(bulkhead.queued, 47);
  await clock.runAll();
  assert.deepEqual(await Promise.all(tasks), Array.from({ length: 50 }, (_, i) => i));
  assert.equal(peak, 3);
  assert.deepEqual(starts, Array.from({ length: 50 }, (_, i) => i));
  assert.equal(bulkhead.inFlight, 0);
  assert.equal(bulkhead.queued, 0);
});

Deno.test("bulkhead: queued calls start in arrival order as permits free up", async () => {
  const clock = new VirtualClock();
  const bulkhead = new Bulkhead({ maxConcurrent: 2, maxQueue: 10, clock });
  const started: [string, number][] = [];
  const job = (name: string, ms: number) =>
    bulkhead.execute(async () => {
      started.push([name, clock.now()]);
      await clock.sleep(ms);
    });
  const all = [job("a", 100), job("b", 30), job("c", 10), job("d", 50), job("e", 5)];
  await clock.runAll();
  await Promise.all(all);
  // b ends at 30 -> c; c ends at 40 -> d; d ends at 90 -> e
  assert.deepEqual(started, [["a", 0], ["b", 0], ["c", 30], ["d", 40], ["e", 90]]);
});

Deno.test("bulkhead: full rejects at once with BulkheadRejectedError and an event", async () => {
  const clock = new VirtualClock(500);
  const rec = recorder();
  const bulkhead = new Bulkhead({
    name: "db",
    maxConcurrent: 2,
    maxQueue: 1,
    onEvent: rec.onEvent,
    clock,
  });
  const p1 = await bulkhead.acquire();
  const p2 = await bulkhead.acquire();
  const queued = bulkhead.acquire();
  assert.equal(bulkhead.queued, 1);
  await assert.rejects(bulkhead.acquire(), (e: unknown) => {
    assert.ok(e instanceof BulkheadRejectedError);
    assert.equal(e.policy, "db");
    assert.equal(e.message, 'bulkhead "db" is full (2 of 2 running, 1 of 1 queued)');
    return true;
  });
  let ran = false;
  await assert.rejects(bulkhead.execute(() => (ran = true)), BulkheadRejectedError);
  assert.equal(ran, false);
  assert.deepEqual(rec.events, [
    {
      type: "bulkhead_rejected",
      policy: "db",
      timestamp: 500,
      inFlight: 2,
      queued: 1,
      reason: "full",
    },
    {
      type: "bulkhead_rejected",
      policy: "db",
      timestamp: 500,
      inFlight: 2,
      queued: 1,
      reason: "full",
    },
  ]);
  assert.equal(clock.timersCreated, 0);
  p1.release();
  (await queued).release();
  p2.release();
  assert.equal(bulkhead.inFlight, 0);
});

Deno.test("bulkhead: maxQueue defaults to 0, so a busy bulkhead rejects at once", async () => {
  const rec = recorder();
  const bulkhead = new Bulkhead({
    maxConcurrent: 1,
    onEvent: rec.onEvent,
    clock: new VirtualClock(),
  });
  assert.equal(bulkhead.maxQueue, 0);
  const permit = await bulkhead.acquire();
  await assert.rejects(
    bulkhead.acquire(),
    new BulkheadRejectedError('bulkhead "bulkhead" is full (1 of 1 running, 0 of 0 queued)', {
      policy: "bulkhead",
    }),
  );
  assert.deepEqual(rec.events.map((e) => e.type === "bulkhead_rejected" && e.reason), ["full"]);
  permit.release();
  (await bulkhead.acquire()).release();
});

Deno.test("bulkhead: a queued call times out at exactly queueTimeoutMs", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const bulkhead = new Bulkhead({
    name: "api",
    maxConcurrent: 1,
    maxQueue: 5,
    queueTimeoutMs: 1_000,
    onEvent: rec.onEvent,
    clock,
  });
  const held = await bulkhead.acquire();
  assert.equal(clock.timersCreated, 0, "no timer when a permit is free");
  const waiting = settleLater(bulkhead.acquire());
  assert.equal(clock.pending, 1);
  await clock.advance(999);
  assert.equal(await isSettled(waiting), false);
  assert.equal(bulkhead.queued, 1);
  await clock.advance(1);
  const result = await waiting;
  assert.equal(result.ok, false);
  const error = (result as { error: unknown }).error;
  assert.ok(error instanceof BulkheadRejectedError);
  assert.equal(error.policy, "api");
  assert.equal(
    error.message,
    'bulkhead "api" had no free permit within 1000 ms (1 of 1 running, 0 of 5 queued)',
  );
  assert.equal(bulkhead.queued, 0);
  assert.equal(bulkhead.inFlight, 1);
  assert.deepEqual(rec.events, [{
    type: "bulkhead_rejected",
    policy: "api",
    timestamp: 1_000,
    inFlight: 1,
    queued: 0,
    reason: "queue_timeout",
  }]);
  held.release();
  assert.equal(bulkhead.inFlight, 0);
  assert.equal(clock.pending, 0);
});

Deno.test("bulkhead: a permit that frees in time clears the waiter's timer", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const bulkhead = new Bulkhead({
    maxConcurrent: 1,
    maxQueue: 1,
    queueTimeoutMs: 1_000,
    onEvent: rec.onEvent,
    clock,
  });
  const held = await bulkhead.acquire();
  const waiting = bulkhead.acquire();
  await clock.advance(400);
  held.release();
  assert.equal(clock.pending, 0);
  assert.equal(bulkhead.inFlight, 1);
  const permit = await waiting;
  await clock.advance(5_000);
  assert.deepEqual(rec.events, []);
  permit.release();
  assert.equal(bulkhead.inFlight, 0);
});

Deno.test("bulkhead: timeoutMs per acquire; the wait is min(queueTimeoutMs, timeoutMs)", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const bulkhead = new Bulkhead({
    maxConcurrent: 1,
    maxQueue: 10,
    queueTimeoutMs: 1_000,
    onEvent: rec.onEvent,
    clock,
  });
  const held = await bulkhead.acquire();
  const rejectedAt: [string, number][] = [];
  const track = (label: string, p: Promise<BulkheadPermit>) =>
    p.catch((e) => {
      assert.ok(e instanceof BulkheadRejectedError);
      rejectedAt.push([label, clock.now()]);
    });
  const all = [
    track("300", bulkhead.acquire({ timeoutMs: 300 })),
    track("5000", bulkhead.acquire({ timeoutMs: 5_000 })),
    track("Infinity", bulkhead.acquire({ timeoutMs: Infinity })),
    track("999.5", bulkhead.acquire({ timeoutMs: 999.5 })),
  ];
  await clock.runAll();
  await Promise.all(all);
  assert.deepEqual(rejectedAt, [["300", 300], ["999.5", 999.5], ["5000", 1_000], [
    "Infinity",
    1_000,
  ]]);
  assert.deepEqual(
    rec.events.map((e) => e.type === "bulkhead_rejected" && e.reason),
    ["queue_timeout", "queue_timeout", "queue_timeout", "queue_timeout"],
  );
  held.release();
});

Deno.test("bulkhead: timeoutMs without queueTimeoutMs; 0 means only a free permit", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const bulkhead = new Bulkhead({ maxConcurrent: 1, maxQueue: 10, onEvent: rec.onEvent, clock });
  const held = await bulkhead.acquire({ timeoutMs: 0 }); // free: granted, no timer
  assert.equal(clock.timersCreated, 0);
  await assert.rejects(
    bulkhead.acquire({ timeoutMs: 0 }),
    new BulkheadRejectedError(
      'bulkhead "bulkhead" had no free permit within 0 ms (1 of 1 running, 0 of 10 queued)',
      { policy: "bulkhead" },
    ),
  );
  assert.equal(clock.timersCreated, 0);
  const waiting = settleLater(bulkhead.acquire({ timeoutMs: 200 }));
  const patient = bulkhead.acquire(); // no timeout at all: no timer
  assert.equal(clock.timersCreated, 1);
  await clock.advance(200);
  const r = await waiting;
  assert.equal(r.ok, false);
  assert.deepEqual(
    rec.events.map((e) => e.type === "bulkhead_rejected" && [e.reason, e.timestamp]),
    [["queue_timeout", 0], ["queue_timeout", 200]],
  );
  held.release();
  (await patient).release();
  assert.equal(bulkhead.inFlight, 0);
});

Deno.test("bulkhead: abort while queued leaves the queue at once and rejects with the reason", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const bulkhead = new Bulkhead({
    maxConcurrent: 1,
    maxQueue: 3,
    queueTimeoutMs: 1_000,
    onEvent: rec.onEvent,
    clock,
  });
  const held = await bulkhead.acquire();
  const controller = new AbortController();
  const first = settleLater(bulkhead.acquire({ signal: controller.signal }));
  const second = bulkhead.acquire();
  assert.equal(bulkhead.queued, 2);
  assert.equal(clock.pending, 2);
  const reason = new Error("caller gave up");
  controller.abort(reason);
  assert.equal(bulkhead.queued, 1, "the queue shrinks synchronously");
  assert.equal(clock.pending, 1, "the aborted waiter's timer is cleared");
  assert.deepEqual(await first, { ok: false, error: reason });
  // the freed permit goes to the next waiter, not the aborted one
  held.release();
  assert.equal(bulkhead.inFlight, 1);
  assert.equal(bulkhead.queued, 0);
  assert.equal(clock.pending, 0);
  (await second).release();
  assert.deepEqual(rec.events, [], "an abort is not a rejection event");
});

Deno.test("bulkhead: an already aborted signal rejects at once, even with a free permit", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const bulkhead = new Bulkhead({ maxConcurrent: 1, maxQueue: 1, onEvent: rec.onEvent, clock });
  const reason = new Error("too late");
  const signal = AbortSignal.abort(reason);
  await assert.rejects(bulkhead.acquire({ signal }), (e) => e === reason);
  let ran = false;
  await assert.rejects(bulkhead.execute(() => (ran = true), { signal }), (e) => e === reason);
  assert.equal(ran, false);
  assert.equal(bulkhead.inFlight, 0);
  assert.equal(bulkhead.queued, 0);
  assert.deepEqual(rec.events, []);
});

Deno.test("bulkhead: release hands the permit to the first waiter; no barging", async () => {
  const bulkhead = new Bulkhead({ maxConcurrent: 1, maxQueue: 1, clock: new VirtualClock() });
  const held = await bulkhead.acquire();
  const order: string[] = [];
  const a = bulkhead.acquire().then((p) => {
    order.push("a");
    return p;
  });
  held.release();
  // the permit already belongs to "a": a newcomer must queue, not take it
  assert.equal(bulkhead.inFlight, 1);
  assert.equal(bulkhead.queued, 0);
  const b = bulkhead.acquire().then((p) => {
    order.push("b");
    return p;
  });
  assert.equal(bulkhead.queued, 1);
  (await a).release();
  (await b).release();
  assert.deepEqual(order, ["a", "b"]);
  assert.equal(bulkhead.inFlight, 0);
});

Deno.test("bulkhead: permits work with `using` and release is idempotent", async () => {
  const bulkhead = new Bulkhead({ maxConcurrent: 1, maxQueue: 1, clock: new VirtualClock() });
  {
    using _permit = await bulkhead.acquire();
    assert.equal(bulkhead.inFlight, 1);
  }
  assert.equal(bulkhead.inFlight, 0);

  const permit = await bulkhead.acquire();
  const next = bulkhead.acquire();
  {
    using _scoped = permit;
  }
  // disposed once: the waiter holds the permit now; further releases change nothing
  permit.release();
  permit[Symbol.dispose]();
  assert.equal(bulkhead.inFlight, 1);
  const other = await next;
  other.release();
  other.release();
  assert.equal(bulkhead.inFlight, 0);
});

Deno.test("bulkhead: execute releases on success, throw and rejection; fn gets { signal }", async () => {
  const bulkhead = new Bulkhead({ maxConcurrent: 1, clock: new VirtualClock() });
  const controller = new AbortController();
  let received: AbortSignal | undefined;
  assert.equal(
    await bulkhead.execute(({ signal }) => {
      received = signal;
      return 42;
    }, { signal: controller.signal }),
    42,
  );
  assert.equal(received, controller.signal);
  // without a signal: a context whose signal never aborts, made once per call
  const context = await bulkhead.execute((context) => context);
  assert.ok(context.signal instanceof AbortSignal);
  assert.equal(context.signal.aborted, false);
  assert.equal(context.signal, context.signal);
  assert.notEqual((await bulkhead.execute((c) => c)).signal, context.signal);
  const boom = new Error("boom");
  await assert.rejects(
    bulkhead.execute(() => {
      throw boom;
    }),
    (e) => e === boom,
  );
  assert.equal(bulkhead.inFlight, 0);
  await assert.rejects(bulkhead.execute(() => Promise.reject(boom)), (e) => e === boom);
  assert.equal(bulkhead.inFlight, 0);
});

Deno.test("bulkhead: execute does not start fn if the signal aborts right after the permit arrives", async () => {
  const bulkhead = new Bulkhead({ maxConcurrent: 1, maxQueue: 1, clock: new VirtualClock() });
  const held = await bulkhead.acquire();
  const controller = new AbortController();
  let ran = false;
  const call = settleLater(bulkhead.execute(() => (ran = true), { signal: controller.signal }));
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(bulkhead.queued, 1);
  held.release(); // permit handed over; execute resumes on a later microtask
  const reason = new Error("gone");
  controller.abort(reason);
  assert.deepEqual(await call, { ok: false, error: reason });
  assert.equal(ran, false);
  assert.equal(bulkhead.inFlight, 0);
});

Deno.test("bulkhead: execute passes timeoutMs to the queue wait", async () => {
  const clock = new VirtualClock();
  const bulkhead = new Bulkhead({ maxConcurrent: 1, maxQueue: 1, clock });
  const held = await bulkhead.acquire();
  const call = settleLater(bulkhead.execute(() => 1, { timeoutMs: 50 }));
  await clock.advance(50);
  const r = await call;
  assert.ok(!r.ok && r.error instanceof BulkheadRejectedError);
  held.release();
});

Deno.test("bulkhead: with the system clock, no timer is left behind", async () => {
  const bulkhead = new Bulkhead({ maxConcurrent: 1, maxQueue: 2, queueTimeoutMs: 60_000 });
  const held = await bulkhead.acquire();
  const a = bulkhead.execute(() => "a");
  const controller = new AbortController();
  const b = bulkhead.acquire({ signal: controller.signal });
  controller.abort(new Error("stop"));
  await assert.rejects(b);
  held.release();
  assert.equal(await a, "a");
  // a real queue timeout fires and cleans up too
  const held2 = await bulkhead.acquire();
  const start = systemClock.now();
  await assert.rejects(bulkhead.acquire({ timeoutMs: 5 }), BulkheadRejectedError);
  assert.ok(systemClock.now() - start >= 4);
  held2.release();
  // the sanitizers fail this test if a timer is still pending
});

Deno.test("bulkhead: rejects bad options with the option's name", async () => {
  const clock = new VirtualClock();
  const make = (extra: Record<string, unknown>) => () =>
    new Bulkhead(loose({ maxConcurrent: 2, clock, ...extra }));
  const cases: [() => unknown, RangeErrorConstructor | TypeErrorConstructor, string][] = [
    [
      () => new Bulkhead(loose(undefined)),
      TypeError,
      "options must be an object: received undefined",
    ],
    [
      make({ maxConcurent: 2 }),
      TypeError,
      "maxConcurent is not a known option (expected one of: name, maxConcurrent, maxQueue, queueTimeoutMs, onEvent, clock)",
    ],
    [make({ name: "" }), TypeError, 'name must be a non-empty string: received ""'],
    [make({ name: 3 }), TypeError, "name must be a non-empty string: received 3"],
    [
      make({ maxConcurrent: 0 }),
      RangeError,
      "maxConcurrent must be an integer between 1 and 1000000: received 0",
    ],
    [
      make({ maxConcurrent: 1.5 }),
      RangeError,
      "maxConcurrent must be an integer between 1 and 1000000: received 1.5",
    ],
    [
      make({ maxConcurrent: Infinity }),
      RangeError,
      "maxConcurrent must be an integer between 1 and 1000000: received Infinity",
    ],
    [
      make({ maxConcurrent: undefined }),
      TypeError,
      "maxConcurrent must be an integer between 1 and 1000000: received undefined",
    ],
    [
      make({ maxConcurrent: "4" }),
      TypeError,
      'maxConcurrent must be an integer between 1 and 1000000: received "4"',
    ],
    [
      make({ maxQueue: -1 }),
      RangeError,
      "maxQueue must be an integer between 0 and 1000000: received -1",
    ],
    [
      make({ maxQueue: 2.5 }),
      RangeError,
      "maxQueue must be an integer between 0 and 1000000: received 2.5",
    ],
    [
      make({ maxQueue: "8" }),
      TypeError,
      'maxQueue must be an integer between 0 and 1000000: received "8"',
    ],
    [make({ queueTimeoutMs: 0 }), RangeError, "queueTimeoutMs must be a number > 0: received 0"],
    [make({ queueTimeoutMs: -1 }), RangeError, "queueTimeoutMs must be a number > 0: received -1"],
    [
      make({ queueTimeoutMs: NaN }),
      RangeError,
      "queueTimeoutMs must be a number > 0: received NaN",
    ],
    [
      make({ queueTimeoutMs: "1s" }),
      TypeError,
      'queueTimeoutMs must be a number > 0: received "1s"',
    ],
    [make({ onEvent: {} }), TypeError, "onEvent must be a function: received {}"],
    [
      make({ clock: { now: () => 0 } }),
      TypeError,
      "clock must be a Clock (now, sleep, setTimer, clearTimer): received {}",
    ],
  ];
  for (const [fn, Class, message] of cases) throwsExactly(fn, Class, message);

  const bulkhead = new Bulkhead({ maxConcurrent: 1, clock });
  await rejectsExactly(
    bulkhead.acquire(loose({ timeout: 5 })),
    TypeError,
    "timeout is not a known option (expected one of: signal, timeoutMs)",
  );
  await rejectsExactly(
    bulkhead.acquire(loose(null)),
    TypeError,
    "options must be an object: received null",
  );
  await rejectsExactly(
    bulkhead.acquire({ timeoutMs: -1 }),
    RangeError,
    "timeoutMs must be a number >= 0: received -1",
  );
  await rejectsExactly(
    bulkhead.acquire({ timeoutMs: NaN }),
    RangeError,
    "timeoutMs must be a number >= 0: received NaN",
  );
  await rejectsExactly(
    bulkhead.acquire(loose({ timeoutMs: "5" })),
    TypeError,
    'timeoutMs must be a number >= 0: received "5"',
  );
  await rejectsExactly(
    bulkhead.acquire(loose({ signal: {} })),
    TypeError,
    "signal must be an AbortSignal: received {}",
  );
  await rejectsExactly(
    bulkhead.execute(loose("not a function")),
    TypeError,
    'fn must be a function: received "not a function"',
  );
  assert.equal(bulkhead.inFlight, 0, "a rejected acquire takes no permit");
});

Deno.test("tryEnter/exit: permits without permit objects, handed to waiters in order", async () => {
  const bulkhead = new Bulkhead({ name: "raw", maxConcurrent: 2, maxQueue: 1 });
  assert.equal(bulkhead.tryEnter(), true);
  assert.equal(bulkhead.tryEnter(), true);
  assert.equal(bulkhead.tryEnter(), false, "full: no permit, nothing queued");
  assert.equal(bulkhead.queued, 0);
  const waiter = bulkhead.acquire();
  bulkhead.exit(); // goes to the waiter, not back to the pool
  const permit = await waiter;
  assert.equal(bulkhead.inFlight, 2);
  permit.release();
  bulkhead.exit();
  assert.equal(bulkhead.inFlight, 0);
  assert.throws(
    () => bulkhead.exit(),
    (e) =>
      e instanceof RangeError && e.message === 'bulkhead "raw": exit() without a permit in flight',
  );
  assert.equal(bulkhead.inFlight, 0, "an unpaired exit changes nothing");
});

Deno.test("maxConcurrent and maxQueue have an upper bound of 1000000, checked at construction", () => {
  throwsExactly(
    () => new Bulkhead({ maxConcurrent: 1_000_001 }),
    RangeError,
    "maxConcurrent must be an integer between 1 and 1000000: received 1000001",
  );
  throwsExactly(
    () => new Bulkhead({ maxConcurrent: 1, maxQueue: 2 ** 31 }),
    RangeError,
    "maxQueue must be an integer between 0 and 1000000: received 2147483648",
  );
  const bulkhead = new Bulkhead({ maxConcurrent: 1_000_000, maxQueue: 1_000_000 });
  assert.equal(bulkhead.maxQueue, 1_000_000);
});
