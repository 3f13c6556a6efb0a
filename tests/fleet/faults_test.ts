// Regression tests of the issue 13 review (/work/review13): hanging and malformed stores, stale
// reports, leases near their end, the retry floor in a burst, and the smaller points. Virtual time.
import assert from "node:assert/strict";
import { CircuitBreaker, CircuitOpenError, policy, RetryBudget } from "../../mod.ts";
import { VirtualClock } from "../../testing.ts";
import { type FleetStateStore, memoryStateStore } from "../../fleet.ts";
import type { FleetSyncFailedEvent, ResilienceEvent } from "../../src/core/events.ts";
import { flush } from "./_helpers.ts";

/** A store whose methods never settle while `hang` is set (a frozen server, a black hole). */
function hangingStore(inner: FleetStateStore = memoryStateStore()) {
  const never = () => new Promise<never>(() => {});
  const s = {
    hang: false,
    report: (...a: Parameters<FleetStateStore["report"]>) => s.hang ? never() : inner.report(...a),
    transition: (...a: Parameters<FleetStateStore["transition"]>) =>
      s.hang ? never() : inner.transition(...a),
    lease: (...a: Parameters<FleetStateStore["lease"]>) => s.hang ? never() : inner.lease(...a),
    close: () => inner.close(),
  };
  return s;
}

const failures = (events: ResilienceEvent[]) =>
  events.filter((e): e is FleetSyncFailedEvent => e.type === "fleet_sync_failed");

/** Whether `p` has settled after the pending callbacks ran. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(() => done = true, () => done = true);
  await flush();
  return done;
}

Deno.test("a hanging store: calls time out as failed syncs, the open circuit probes locally after a lease, close() settles", async () => {
  const clock = new VirtualClock();
  const store = hangingStore();
  const events: ResilienceEvent[] = [];
  const breaker = new CircuitBreaker({
    name: "db",
    kind: "consecutive",
    threshold: 1,
    breakMs: 1_000,
    clock,
    fleet: { store, syncIntervalMs: 100, leaseMs: 2_000 },
    onEvent: (e) => events.push(e),
  });
  await clock.advance(100); // good syncs
  assert.equal(failures(events).length, 0);
  store.hang = true; // the store freezes
  breaker.recordFailure(); // opens locally; its transition write hangs
  await clock.advance(100);
  const first = failures(events);
  assert.deepEqual(first.map((e) => [e.operation, e.timestamp]), [["transition", 200]]);
  assert.equal(
    (first[0].error as Error).message,
    "store.transition() did not answer within 100 ms",
  );
  let firstProbe = NaN;
  for (let t = 0; t < 5_000 && firstProbe !== firstProbe; t += 100) {
    await clock.advance(100);
    if (breaker.allowCall()) {
      firstProbe = clock.now();
      breaker.recordSuccess();
    }
  }
  // Failing since 200 ms (the first timeout): local probes once that lasted a lease (2 s).
  assert.equal(firstProbe, 2_200);
  assert.equal(breaker.state, "closed");
  const ops = new Set(failures(events).map((e) => e.operation));
  assert.deepEqual([...ops].sort(), ["sync", "transition"]);
  // The sync keeps being scheduled: one more failed sync every 200 ms (100 wait + 100 timeout).
  const before = failures(events).filter((e) => e.operation === "sync").length;
  await clock.advance(1_000);
  assert.equal(failures(events).filter((e) => e.operation === "sync").length, before + 5);
  const sync = breaker.fleet.sync();
  assert.equal(await settled(sync), false);
  await clock.advance(100);
  assert.equal(await settled(sync), true, "sync() settles once the store call timed out");
  const close = breaker.fleet.close();
  await clock.advance(200);
  assert.equal(await settled(close), true, "close() settles");
  assert.equal(clock.pending, 0, "no timer left behind");
});

Deno.test("a hanging store: policy.fleet.sync() and close() settle, every call succeeds", async () => {
  const clock = new VirtualClock();
  const store = hangingStore();
  const p = policy("pay", {
    clock,
    telemetry: false,
    circuit: { kind: "consecutive", threshold: 3 },
    failureBudget: { threshold: 0.5, windowMs: 1_000, minSamples: 10 },
    fleet: { store, syncIntervalMs: 100 },
  });
  store.hang = true;
  assert.equal(await p.execute(() => 1), 1);
  const sync = p.fleet.sync();
  await clock.advance(100);
  assert.equal(await settled(sync), true);
  const close = p.fleet.close();
  await clock.advance(100);
  assert.equal(await settled(close), true);
  assert.equal(clock.pending, 0);
});

function garbageStore(overrides: Partial<Record<keyof FleetStateStore, unknown>>) {
  return { ...memoryStateStore(), ...overrides } as FleetStateStore;
}

for (
  const [name, report, message] of [
    ["report() resolves null", null, "store.report() answered malformed data: null"],
    [
      "a peer's report is null",
      { state: null, peers: [{ instanceId: "x", report: null }] },
      'store.report() answered malformed data: {"state":null,"peers":[{"instanceId":"x","report":null}]}',
    ],
    [
      'the state is "bogus"',
      { state: { version: 7, state: "bogus", openedAt: 0, breakMs: 1_000, opens: 1 }, peers: [] },
      'store.report() answered malformed data: {"state":{"version":7,"state":"bogus","openedAt":0,"breakMs":1000,"opens":1},"peers":[]}',
    ],
  ] as const
) {
  Deno.test(`malformed store data (${name}): a failed sync, the circuit keeps deciding locally`, async () => {
    const clock = new VirtualClock();
    const events: ResilienceEvent[] = [];
    const b = new CircuitBreaker({
      name: "db",
      kind: "consecutive",
      threshold: 3,
      clock,
      fleet: {
        store: garbageStore({ report: () => Promise.resolve(report) }),
        syncIntervalMs: 100,
      },
      onEvent: (e) => events.push(e),
    });
    await b.fleet.sync(); // resolves (never rejects)
    const failed = failures(events);
    assert.equal(failed.length, 1);
    assert.equal(failed[0].operation, "sync");
    assert.ok(failed[0].error instanceof TypeError);
    assert.equal((failed[0].error as Error).message, message);
    assert.equal(b.state, "closed");
    assert.equal(events.filter((e) => e.type === "circuit_transition").length, 0);
    for (let i = 0; i < 10; i++) {
      await clock.advance(100);
      assert.equal(await b.execute(() => i), i, "no call is rejected");
    }
    await b.fleet.close();
  });
}

Deno.test("malformed store data: transition() resolving undefined is a failed transition", async () => {
  const clock = new VirtualClock();
  const events: ResilienceEvent[] = [];
  const b = new CircuitBreaker({
    name: "db",
    kind: "consecutive",
    threshold: 1,
    clock,
    fleet: {
      store: garbageStore({ transition: () => Promise.resolve(undefined) }),
      syncIntervalMs: 100,
    },
    onEvent: (e) => events.push(e),
  });
  b.recordFailure();
  await flush();
  assert.deepEqual(failures(events).map((e) => e.operation), ["transition"]);
  assert.equal(
    (failures(events)[0].error as Error).message,
    "store.transition() answered malformed data: undefined",
  );
  assert.equal(b.state, "open");
  await b.fleet.close();
});

Deno.test("a store whose methods throw synchronously: contained, reported, local probes", async () => {
  const clock = new VirtualClock();
  const events: ResilienceEvent[] = [];
  const boom = () => {
    throw new Error("sync boom");
  };
  const b = new CircuitBreaker({
    name: "db",
    kind: "consecutive",
    threshold: 1,
    breakMs: 100,
    clock,
    fleet: {
      store: garbageStore({ report: boom, transition: boom, lease: boom, watch: boom }),
      syncIntervalMs: 100,
      leaseMs: 200,
    },
    onEvent: (e) => events.push(e),
  });
  assert.equal(await b.execute(() => 1), 1);
  await assert.rejects(b.execute(() => Promise.reject(new Error("x"))), /x/);
  await clock.advance(1_000);
  assert.equal(await b.execute(() => 2), 2, "probed locally after the lease");
  assert.deepEqual(
    [...new Set(failures(events).map((e) => e.operation))].sort(),
    ["sync", "transition"],
  );
  await b.fleet.close();
});

/** The state of a new instance after one failed call, `ageMs` after a dead instance's 9 failures. */
async function afterDeadInstance(ageMs: number): Promise<[string, string[]]> {
  const clock = new VirtualClock();
  const store = memoryStateStore();
  const opts = {
    name: "api",
    kind: "count",
    size: 20,
    minCalls: 10,
    threshold: 0.5,
    breakMs: 60_000,
    clock,
  } as const;
  const fleet = (id: string) => ({ store, syncIntervalMs: 1_000, instanceId: id });
  const dead = new CircuitBreaker({ ...opts, fleet: fleet("dead") });
  for (let i = 0; i < 9; i++) dead.recordFailure(); // 9 calls < minCalls: stays closed
  await dead.fleet.sync();
  await dead.fleet.close(); // it dies at 0 ms
  await clock.advance(ageMs);
  const fresh = new CircuitBreaker({ ...opts, fleet: fleet("fresh") });
  await fresh.fleet.sync();
  fresh.recordFailure();
  const state = fresh.state;
  await fresh.fleet.close();
  await clock.advance(5_000); // another write 5 intervals later: the store drops the dead ones
  const report = { seq: 1, version: 0, at: clock.now(), counts: [0, 0, 0] };
  const view = await store.report("circuit:api", "probe", report, 4_000);
  return [state, view.peers.map((p) => p.instanceId)];
}

Deno.test("stale data: a new instance ignores a report older than 3 intervals; the store drops it", async () => {
  assert.deepEqual(
    await afterDeadInstance(3_000),
    ["open", ["probe"]],
    "within 3 intervals: 9 + 1 failed calls of the fleet open it",
  );
  assert.deepEqual(
    await afterDeadInstance(3_001),
    ["closed", ["probe"]],
    "older than 3 intervals (an hour too): left out",
  );
  assert.deepEqual((await afterDeadInstance(3_600_000))[0], "closed");
});

function leasePair() {
  const clock = new VirtualClock();
  const store = memoryStateStore();
  const make = (id: string) =>
    new CircuitBreaker({
      name: "db",
      kind: "consecutive",
      threshold: 1,
      breakMs: 1_000,
      halfOpenMaxCalls: 1,
      clock,
      fleet: { store, syncIntervalMs: 100, instanceId: id, leaseMs: 500 },
    });
  return { clock, a: make("a"), b: make("b") };
}

Deno.test("lease: a lease not used within one lease of its claim is not used (no second probe)", async () => {
  const { clock, a, b } = leasePair();
  a.recordFailure();
  await clock.advance(1_000); // break elapsed everywhere
  assert.equal(a.allowCall(), false); // a asks for a lease in the background...
  await clock.advance(100); // ...and gets it at 1,000 (usable until 1,500; held until 2,000)
  assert.equal(b.allowCall(), false); // b asks; the lease is a's
  await clock.advance(1_000); // t = 2,100: a got no call meanwhile; b has the lease now
  const bProbe = b.allowCall();
  const aProbe = a.allowCall();
  assert.deepEqual([aProbe, bProbe], [false, true], "one probe in the fleet");
  assert.equal(a.retryAfterMs, 100, "a waits for a lease");
  await Promise.all([a.fleet.close(), b.fleet.close()]);
});

Deno.test("lease: a probe admitted just before the end of its use ends before another instance can probe", async () => {
  const { clock, a, b } = leasePair();
  a.recordFailure();
  await clock.advance(1_000);
  a.allowCall();
  await clock.advance(100); // a claimed at 1,000: usable until 1,500
  b.allowCall();
  await clock.advance(400); // t = 1,500
  assert.equal(a.allowCall(), false, "the lease's use ended at 1,500");
  await Promise.all([a.fleet.close(), b.fleet.close()]);
  const pair = leasePair();
  pair.a.recordFailure();
  await pair.clock.advance(1_000);
  pair.a.allowCall();
  await pair.clock.advance(100);
  pair.b.allowCall();
  await pair.clock.advance(300); // t = 1,400
  assert.equal(pair.a.allowCall(), true, "a's probe starts at 1,400 (it lasts up to 500 ms)");
  let bAt = NaN;
  for (let t = 0; t < 20 && bAt !== bAt; t++) {
    await pair.clock.advance(100);
    if (pair.b.allowCall()) bAt = pair.clock.now();
  }
  assert.equal(bAt, 2_000, "b probes once the lease, held for 2 x 500 ms, ended: after a's probe");
  await Promise.all([pair.a.fleet.close(), pair.b.fleet.close()]);
});

Deno.test("retry budget: in a storm between two syncs the floor is split by the live instances", async () => {
  const clock = new VirtualClock();
  const store = memoryStateStore();
  const fleet = { store, syncIntervalMs: 1_000 };
  const opts = { ratio: 0.1, minPerSecond: 10, windowMs: 10_000, clock, fleet };
  const budgets = [new RetryBudget(opts), new RetryBudget(opts), new RetryBudget(opts)];
  await clock.advance(1_000); // the first syncs: three live instances
  let granted = 0;
  for (let i = 0; i < 100; i++) {
    for (const budget of budgets) {
      budget.recordRequest();
      if (budget.tryRetry()) granted++;
    }
    await clock.advance(5); // 100 requests per instance in 500 ms, all failing
  }
  const bound = 0.1 * 300 + 10 * 10;
  assert.ok(granted <= bound, `${granted} <= ${bound}`);
  assert.equal(granted, 129);
  await Promise.all(budgets.map((b) => b.fleet.close()));
});

Deno.test("waiting for a lease: retryAfterMs is the wait, through the breaker and a policy", async () => {
  const clock = new VirtualClock();
  const store = memoryStateStore();
  const p = policy("pay", {
    clock,
    telemetry: false,
    retry: { maxAttempts: 1 },
    circuit: { kind: "consecutive", threshold: 1, breakMs: 1_000 },
    fleet: { store, syncIntervalMs: 250, instanceId: "a" },
  });
  const holder = new CircuitBreaker({
    name: "pay",
    kind: "consecutive",
    threshold: 1,
    breakMs: 1_000,
    clock,
    fleet: { store, syncIntervalMs: 250, instanceId: "b", leaseMs: 60_000 },
  });
  await assert.rejects(p.execute(() => Promise.reject(new Error("x"))));
  await clock.advance(1_000);
  holder.allowCall();
  await clock.advance(250); // b holds the only lease; a's break has elapsed
  const viaPolicy = await p.execute(() => 1).catch((e) => e);
  const viaBreaker = await p.circuit!.execute(() => 1).catch((e) => e);
  assert.ok(viaPolicy instanceof CircuitOpenError && viaBreaker instanceof CircuitOpenError);
  assert.equal(viaPolicy.retryAfterMs, 250);
  assert.equal(viaBreaker.retryAfterMs, 250);
  assert.equal(p.circuit!.retryAfterMs, 250);
  await Promise.all([p.fleet.close(), holder.fleet.close()]);
});

Deno.test("the store is never called on the caller's stack", async () => {
  const inner = memoryStateStore();
  const stacks: boolean[] = [];
  const store: FleetStateStore = {
    ...inner,
    transition: (...a) => {
      stacks.push(new Error().stack!.includes("recordFailure"));
      return inner.transition(...a);
    },
  };
  const clock = new VirtualClock();
  const breaker = new CircuitBreaker({
    name: "db",
    kind: "consecutive",
    threshold: 1,
    clock,
    fleet: { store, syncIntervalMs: 60_000 },
  });
  breaker.recordFailure();
  assert.deepEqual(stacks, [], "not called yet");
  await flush();
  assert.deepEqual(stacks, [false], "called once, from a later microtask");
  await breaker.fleet.close();
});

Deno.test("fleet options: timer delays above 2**31 - 1, a missing store, named", () => {
  const store = memoryStateStore();
  assert.throws(
    () => new RetryBudget({ ratio: 0.1, fleet: { store, syncIntervalMs: 2 ** 31 } }),
    (e) =>
      e instanceof RangeError &&
      e.message ===
        "fleet.syncIntervalMs must be a number > 0 and <= 2147483647: received 2147483648",
  );
  assert.throws(
    () =>
      new CircuitBreaker({
        kind: "consecutive",
        threshold: 1,
        fleet: { store, syncIntervalMs: 1_000, leaseMs: 2 ** 32 },
      }),
    (e) =>
      e instanceof RangeError &&
      e.message === "fleet.leaseMs must be a number > 0 and <= 2147483647: received 4294967296",
  );
  for (const missing of [null, undefined]) {
    assert.throws(
      () => new RetryBudget({ ratio: 0.1, fleet: { store: missing as never, syncIntervalMs: 1 } }),
      (e) => e instanceof TypeError && e.message === "fleet.store is required",
    );
  }
});

for (const when of ["at the next sync", "at the next write"]) {
  Deno.test(`a transition write that timed out but landed is this instance's (${when}): no stale reopening`, async () => {
    const clock = new VirtualClock();
    const inner = memoryStateStore();
    // While `slow`, every call reaches the store but its answer never comes back (a frozen server
    // that executes the queued commands once it is thawed, modelled as executed at once).
    let slow = false;
    const late = <T>(p: Promise<T>) => slow ? (p.catch(() => {}), new Promise<T>(() => {})) : p;
    const store: FleetStateStore = {
      report: (...a) => late(inner.report(...a)),
      transition: (...a) => late(inner.transition(...a)),
      lease: (...a) => late(inner.lease(...a)),
      close: () => inner.close(),
    };
    const seen: string[] = [];
    const make = (id: string) =>
      new CircuitBreaker({
        name: "db",
        kind: "consecutive",
        threshold: 1,
        breakMs: 1_000,
        clock,
        fleet: { store, syncIntervalMs: 100, instanceId: id, leaseMs: 1_000 },
        onEvent: (e) => {
          if (e.type === "circuit_transition") seen.push(`${id}:${e.from}->${e.to}:${e.reason}`);
        },
      });
    const a = make("a");
    await clock.advance(100);
    slow = true;
    a.recordFailure(); // the opening lands in the store (version 1), its answer never comes
    const b = make("b");
    for (let i = 0; i < 30 && a.state === "open"; i++) {
      await clock.advance(100);
      if (a.allowCall()) a.recordSuccess(); // a local probe once the store failed for a lease
    }
    assert.equal(a.state, "closed");
    if (when === "at the next sync") await clock.advance(100); // the closing's write times out too
    slow = false;
    await clock.advance(300); // a learns its opening landed, and writes its closing on top
    assert.equal(a.state, "closed", "a does not reopen on its own late write");
    assert.equal(b.state, "closed");
    assert.deepEqual(seen, [
      "a:closed->open:failure_threshold",
      "a:open->half_open:break_elapsed",
      "a:half_open->closed:probe_success",
      // b (made while the store hung) reads the opening, then the closing written on top of it;
      // at the next write, the closing lands before b's first good sync: b stays closed.
      ...(when === "at the next sync" ? ["b:closed->open:fleet", "b:open->closed:fleet"] : []),
    ]);
    await Promise.all([a.fleet.close(), b.fleet.close()]);
  });
}

Deno.test("sync() waits for a transition still being written: a peer's sync after it sees the state", async () => {
  const inner = memoryStateStore();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const slow: FleetStateStore = {
    report: (...a) => inner.report(...a),
    transition: async (...a) => {
      await gate; // the write is slow to land
      return inner.transition(...a);
    },
    lease: (...a) => inner.lease(...a),
    close: () => inner.close(),
  };
  const clock = new VirtualClock(0);
  const make = (id: string, store: FleetStateStore) =>
    new CircuitBreaker({
      name: "db",
      kind: "consecutive",
      threshold: 1,
      clock,
      fleet: { store, syncIntervalMs: 60_000, instanceId: id },
    });
  const a = make("a", slow);
  const b = make("b", inner);
  try {
    a.recordFailure(); // opens; the transition is written in the background
    let synced = false;
    const sync = a.fleet.sync().then(() => synced = true);
    await flush();
    assert.equal(synced, false, "a's sync waits for its transition");
    release();
    await sync;
    await b.fleet.sync();
    assert.equal(b.state, "open");
  } finally {
    release();
    await Promise.all([a.fleet.close(), b.fleet.close()]);
  }
});
