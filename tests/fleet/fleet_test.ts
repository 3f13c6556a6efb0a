import assert from "node:assert/strict";
import { CircuitBreaker, CircuitOpenError, FailureBudget, policy, RetryBudget } from "../../mod.ts";
import { VirtualClock } from "../../testing.ts";
import { memoryStateStore } from "../../fleet.ts";
import type { ResilienceEvent } from "../../src/core/events.ts";
import { faultyStore, flush } from "./_helpers.ts";
import { loose, throwsExactly } from "../_helpers.ts";

const fail = () => Promise.reject(new Error("down"));

Deno.test("a transition is written at once and adopted by the others at their next sync", async () => {
  const clock = new VirtualClock();
  const store = faultyStore();
  const fleet = { store, syncIntervalMs: 1_000 };
  const seen: string[] = [];
  const make = (id: string) =>
    new CircuitBreaker({
      name: "db",
      kind: "consecutive",
      threshold: 2,
      breakMs: 5_000,
      clock,
      fleet: { ...fleet, instanceId: id },
      onEvent: (e) => {
        if (e.type === "circuit_transition") seen.push(`${id}:${e.from}->${e.to}:${e.reason}`);
      },
    });
  const [a, b, c] = [make("a"), make("b"), make("c")];
  await assert.rejects(a.execute(fail), /down/);
  await assert.rejects(a.execute(fail), /down/);
  assert.equal(a.state, "open");
  await flush();
  assert.equal(store.writes, 1, "one compare-and-set, no sync yet");
  assert.equal(b.state, "closed", "no I/O on the call path: b learns at its sync");
  await clock.advance(1_000);
  assert.equal(b.state, "open");
  assert.equal(c.state, "open");
  await assert.rejects(b.execute(() => "never"), (e) => e instanceof CircuitOpenError);
  assert.deepEqual(seen, [
    "a:closed->open:failure_threshold",
    "b:closed->open:fleet",
    "c:closed->open:fleet",
  ]);
  // The adopted break is the writer's: all three reopen for probes at 5 s.
  assert.equal(b.retryAfterMs, 4_000);
  await Promise.all([a.fleet.close(), b.fleet.close(), c.fleet.close()]);
  assert.equal(clock.pending, 0, "close() leaves no timer behind");
});

Deno.test("concurrent transitions: one compare-and-set wins, the loser adopts the winner's state", async () => {
  const clock = new VirtualClock();
  const store = memoryStateStore();
  const make = (id: string, breakMs: number) =>
    new CircuitBreaker({
      name: "db",
      kind: "consecutive",
      threshold: 1,
      breakMs,
      clock,
      fleet: { store, syncIntervalMs: 1_000, instanceId: id },
    });
  const a = make("a", 3_000);
  const b = make("b", 9_000);
  a.recordFailure();
  b.recordFailure(); // both open before either write lands
  await flush();
  assert.equal(a.retryAfterMs, 3_000);
  assert.equal(b.retryAfterMs, 3_000, "b lost the compare-and-set and took a's opening");
  await Promise.all([a.fleet.close(), b.fleet.close()]);
});

Deno.test("ratio detectors decide on fleet totals; one bad instance alone does not open the circuit", async () => {
  const clock = new VirtualClock();
  const store = memoryStateStore();
  const make = (id: string) =>
    new CircuitBreaker({
      name: "api",
      kind: "count",
      size: 10,
      threshold: 0.5,
      clock,
      fleet: { store, syncIntervalMs: 1_000, instanceId: id },
    });
  const [a, b, c] = [make("a"), make("b"), make("c")];
  for (let i = 0; i < 4; i++) a.recordFailure(); // a is all failures, but 4 calls < minCalls
  for (let i = 0; i < 4; i++) b.recordSuccess(); // b and c are healthy
  for (let i = 0; i < 4; i++) c.recordSuccess();
  await clock.advance(1_000);
  a.recordFailure(); // fleet: 5 failures of 13 calls, ratio 0.38 < 0.5
  assert.equal(a.state, "closed");
  for (let i = 0; i < 4; i++) b.recordFailure();
  await clock.advance(1_000);
  // b's own 4 failures plus the counts it read at the last sync reach the fleet threshold
  assert.equal(b.state, "open");
  await clock.advance(1_000);
  assert.equal(a.state, "open");
  assert.equal(c.state, "open");
  await Promise.all([a.fleet.close(), b.fleet.close(), c.fleet.close()]);
});

Deno.test("half-open: probes are leased fleet-wide, one success closes everywhere, an expired lease frees the probe", async () => {
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
      fleet: { store, syncIntervalMs: 100, instanceId: id, leaseMs: 2_000 },
    });
  const all = [make("a"), make("b"), make("c")];
  const [a, b, c] = all;
  a.recordFailure();
  await clock.advance(100);
  assert.deepEqual(all.map((x) => x.state), ["open", "open", "open"]);
  await clock.advance(900); // the break has elapsed everywhere
  // Each asks for a lease in the background; none admits a call on its own.
  assert.deepEqual(all.map((x) => x.allowCall()), [false, false, false]);
  await clock.advance(100);
  const admitted = all.map((x) => x.allowCall());
  assert.equal(admitted.filter(Boolean).length, 1, "one probe across three instances");
  const holder = all[admitted.indexOf(true)];
  // The holder "crashes": its probe never ends. The lease is claimed for twice its length (a
  // probe admitted at the end of the first half still ends in time): others probe after 4 s.
  await clock.advance(3_800);
  assert.deepEqual(all.filter((x) => x !== holder).map((x) => x.allowCall()), [false, false]);
  await clock.advance(200);
  let next = all.filter((x) => x !== holder).find((x) => x.allowCall());
  if (next === undefined) {
    await clock.advance(100);
    next = all.filter((x) => x !== holder).find((x) => x.allowCall());
  }
  assert.ok(next !== undefined, "another instance probes once the lease expired");
  next.recordSuccess();
  assert.equal(next.state, "closed");
  await clock.advance(100);
  assert.deepEqual([a.state, b.state, c.state], ["closed", "closed", "closed"]);
  await Promise.all(all.map((x) => x.fleet.close()));
});

Deno.test("isolate() is fleet-wide; release closes everywhere", async () => {
  const clock = new VirtualClock();
  const store = memoryStateStore();
  const fleet = { store, syncIntervalMs: 500 };
  const a = new CircuitBreaker({ name: "x", kind: "consecutive", threshold: 3, clock, fleet });
  const b = new CircuitBreaker({ name: "x", kind: "consecutive", threshold: 3, clock, fleet });
  const hold = a.isolate();
  await clock.advance(500);
  assert.equal(b.state, "isolated");
  hold.release();
  await clock.advance(500);
  assert.equal(b.state, "closed");
  await Promise.all([a.fleet.close(), b.fleet.close()]);
});

Deno.test("store faults: no call fails or waits, fleet_sync_failed is emitted, state resumes when the store returns", async () => {
  const clock = new VirtualClock();
  const store = faultyStore();
  const events: ResilienceEvent[] = [];
  const onEvent = (e: ResilienceEvent) => events.push(e);
  const fleet = { store, syncIntervalMs: 1_000 };
  const a = new CircuitBreaker({
    name: "db",
    kind: "consecutive",
    threshold: 2,
    clock,
    fleet,
    onEvent,
  });
  const b = new CircuitBreaker({ name: "db", kind: "consecutive", threshold: 2, clock, fleet });
  store.failing = true;
  let ok = 0;
  for (let i = 0; i < 50; i++) ok += (await a.execute(() => 1)) as number;
  assert.equal(ok, 50, "every call succeeded while the store was down");
  await assert.rejects(a.execute(fail), /down/);
  await assert.rejects(a.execute(fail), /down/);
  assert.equal(a.state, "open", "the part decides on local state");
  await clock.advance(1_000);
  const failures = events.filter((e) => e.type === "fleet_sync_failed");
  assert.deepEqual(
    failures.map((e) => e.type === "fleet_sync_failed" && e.operation),
    ["transition", "sync", "sync"], // the first sync (at once), then the one at 1 s
  );
  assert.equal(b.state, "closed");
  store.failing = false;
  await clock.advance(1_000); // a writes the transition the store missed
  await clock.advance(1_000);
  assert.equal(b.state, "open", "the fleet learns the opening once the store is back");
  await Promise.all([a.fleet.close(), b.fleet.close()]);
});

Deno.test("write bound: 20,000 calls over 5 intervals cost <= parts x (intervals + 1) + transitions writes", async () => {
  const clock = new VirtualClock();
  const store = faultyStore();
  const p = policy("bulk", {
    clock,
    telemetry: false,
    circuit: { kind: "count", size: 100, threshold: 0.5 },
    failureBudget: { threshold: 0.5, windowMs: 10_000, minSamples: 100 },
    retry: { maxAttempts: 1, retryBudget: { ratio: 0.1 } },
    fleet: { store, syncIntervalMs: 1_000 },
  });
  for (let interval = 0; interval < 5; interval++) {
    for (let i = 0; i < 4_000; i++) await p.execute(() => i);
    await clock.advance(1_000);
  }
  assert.ok(store.writes <= 3 * (5 + 1), `writes: ${store.writes}`);
  assert.equal(store.writes, 18, "three parts, one write each at start and per interval");
  await p.fleet.close();
});

Deno.test("fleet failure budget: two instances each below minSamples alone breach together", async () => {
  const clock = new VirtualClock();
  const store = memoryStateStore();
  const fleet = { store, syncIntervalMs: 1_000 };
  const opts = { name: "slo", threshold: 0.1, windowMs: 60_000, minSamples: 20, clock, fleet };
  const a = new FailureBudget(opts);
  const b = new FailureBudget(opts);
  for (let i = 0; i < 12; i++) a.record(i % 2 === 0);
  for (let i = 0; i < 12; i++) b.record(i % 3 === 0);
  assert.equal(a.isBreached(), false);
  assert.equal(b.isBreached(), false);
  await clock.advance(2_000); // two syncs: each has read the other's report
  assert.equal(a.samples(), 24);
  assert.equal(a.isBreached(), true);
  assert.equal(b.isBreached(), true);
  await Promise.all([a.fleet.close(), b.fleet.close()]);
});

Deno.test("fleet retry budget: retries across instances stay within ratio x fleet requests + one floor", async () => {
  const clock = new VirtualClock();
  const store = memoryStateStore();
  const fleet = { store, syncIntervalMs: 100 };
  const opts = { ratio: 0.1, minPerSecond: 1, windowMs: 10_000, clock, fleet };
  const budgets = [new RetryBudget(opts), new RetryBudget(opts), new RetryBudget(opts)];
  let granted = 0;
  for (let step = 0; step < 50; step++) {
    for (const budget of budgets) {
      budget.recordRequest();
      if (budget.tryRetry()) granted++;
    }
    await clock.advance(100);
  }
  // 150 requests in 5 s: at most 0.1 x 150 + 1/s x 10 s = 25, the floor granted once for the
  // fleet (each instance's share of it: a third, so one retry of the floor is left unspent).
  assert.equal(granted, 24);
  const alone = [1, 2, 3].map(() => new RetryBudget({ ...opts, fleet: undefined }));
  let grantedAlone = 0;
  for (let step = 0; step < 50; step++) {
    for (const budget of alone) {
      budget.recordRequest();
      if (budget.tryRetry()) grantedAlone++;
    }
  }
  assert.equal(grantedAlone, 45, "three unshared budgets: 3 x (0.1 x 50 + 10)");
  await Promise.all(budgets.map((x) => x.fleet.close()));
});

Deno.test("bad fleet options name the field", () => {
  const store = memoryStateStore();
  throwsExactly(
    () => new CircuitBreaker({ kind: "consecutive", threshold: 1, fleet: loose({ store }) }),
    TypeError,
    "fleet.syncIntervalMs must be a number > 0: received undefined",
  );
  throwsExactly(
    () => new RetryBudget({ ratio: 0.1, fleet: { store, syncIntervalMs: 0 } }),
    RangeError,
    "fleet.syncIntervalMs must be a number > 0: received 0",
  );
  throwsExactly(
    () =>
      new FailureBudget({
        threshold: 0.1,
        windowMs: 1,
        minSamples: 1,
        fleet: loose({ store: {}, syncIntervalMs: 1 }),
      }),
    TypeError,
    "fleet.store must be a FleetStateStore (report, transition, lease, close): received {}",
  );
  throwsExactly(
    () => policy("p", { telemetry: false, fleet: loose({ store, syncIntervalMs: 1, every: 1 }) }),
    TypeError,
    "fleet.every is not a known option (expected one of: store, syncIntervalMs, instanceId, leaseMs)",
  );
  throwsExactly(
    () => policy("p", { telemetry: false, fleet: { store, syncIntervalMs: 1, instanceId: "" } }),
    TypeError,
    'fleet.instanceId must be a non-empty string: received ""',
  );
});

Deno.test("an open circuit whose store has failed for a lease probes on its own", async () => {
  const clock = new VirtualClock();
  const store = faultyStore();
  const breaker = new CircuitBreaker({
    name: "db",
    kind: "consecutive",
    threshold: 1,
    breakMs: 1_000,
    clock,
    fleet: { store, syncIntervalMs: 100, leaseMs: 2_000 },
  });
  store.failing = true;
  breaker.recordFailure();
  await clock.advance(1_000); // the break has elapsed; the store has failed for 1,000 ms
  assert.equal(breaker.allowCall(), false, "a lease may still be held: wait for it");
  await clock.advance(1_000); // failing for a lease (2,000 ms)
  assert.equal(breaker.allowCall(), true, "a local probe: no lease can be held any more");
  breaker.recordSuccess();
  assert.equal(breaker.state, "closed");
  store.failing = false;
  await clock.advance(100); // the store is back: it is given the last local transition
  const probe = { version: 1, state: "open" as const, openedAt: 0, breakMs: 1, opens: 1 };
  const stored = await store.transition("circuit:db", 0, probe);
  assert.equal(stored.won, false);
  assert.equal(stored.record?.state, "closed");
  assert.equal(stored.record?.version, 1);
  await breaker.fleet.close();
});

Deno.test("a store that comes back empty is seeded with the latest local state, and the others follow", async () => {
  const clock = new VirtualClock();
  const store = faultyStore();
  const make = (id: string) =>
    new CircuitBreaker({
      name: "db",
      kind: "consecutive",
      threshold: 1,
      breakMs: 1_000,
      clock,
      fleet: { store, syncIntervalMs: 100, instanceId: id },
    });
  const [a, b] = [make("a"), make("b")];
  a.recordFailure(); // version 1: open
  await clock.advance(100);
  assert.equal(b.state, "open");
  store.failing = true;
  await clock.advance(1_100);
  assert.equal(a.allowCall(), true); // the store has failed for a lease: a probes on its own
  a.recordSuccess(); // closed, but the store misses it
  store.inner = memoryStateStore(); // it comes back empty (a restarted Redis)
  store.failing = false;
  await clock.advance(100); // a seeds it with "closed"
  await clock.advance(100); // b, whose version is the same, sees other content and follows
  assert.equal(a.state, "closed");
  assert.equal(b.state, "closed");
  await Promise.all([a.fleet.close(), b.fleet.close()]);
});

Deno.test("policy: the probe lease lasts the policy's deadline; policy.fleet syncs and closes every part", async () => {
  const clock = new VirtualClock();
  const store = memoryStateStore();
  const make = (id: string) =>
    policy("pay", {
      clock,
      telemetry: false,
      deadlineMs: 500,
      bulkhead: { maxConcurrent: 10 }, // parts that are not shared take no fleet option
      rateLimit: { ratePerSecond: 1_000 },
      hedge: { delayMs: 1_000 },
      retry: { maxAttempts: 1 },
      circuit: { kind: "consecutive", threshold: 1, breakMs: 10_000 },
      fleet: { store, syncIntervalMs: 100, instanceId: id },
    });
  const [a, b] = [make("a"), make("b")];
  await assert.rejects(a.execute(fail), /gave up after 1 attempt/);
  await b.fleet.sync();
  assert.equal(b.circuit?.state, "open");
  await clock.advance(10_000);
  assert.equal(a.circuit?.allowCall(), false); // asks for a lease
  await clock.advance(100); // a's lease was claimed at 10,000 ms
  assert.equal(a.circuit?.allowCall(), true); // a holds the probe... and never settles it
  assert.equal(b.circuit?.allowCall(), false);
  await clock.advance(800);
  assert.equal(b.circuit?.allowCall(), false, "the lease (2 x 500 ms, the deadline) still holds");
  await clock.advance(200);
  assert.equal(b.circuit?.allowCall(), true, "b probes once a's lease expired");
  await Promise.all([a.fleet.close(), b.fleet.close()]);
  assert.equal(clock.pending, 0);
});
