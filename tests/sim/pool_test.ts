import assert from "node:assert/strict";
import { latency, Simulation } from "@bulwark/bulwark/sim";

Deno.test("pool: warm-up opens minConnections before any load", async () => {
  const sim = new Simulation();
  const db = sim.server("db", { latency: latency.constant(10) });
  const pool = sim.pool("p", { target: db, minConnections: 3, maxConnections: 5 });
  let openAtZero = -1;
  sim.clock.setTimer(() => (openAtZero = pool.open), 0);
  const report = await sim.run({ durationMs: 1_000 });
  assert.equal(openAtZero, 3);
  assert.deepEqual(report.pools.p, {
    connectionsCreated: 3,
    connectionsClosed: 0,
    acquisitions: 0,
    releases: 0,
    timeouts: 0,
    totalWaitTimeMs: 0,
  });
});

Deno.test("pool: a new connection pays connectionLatency, a reused one does not", async () => {
  const sim = new Simulation();
  const db = sim.server("db", { latency: latency.constant(10) });
  const pool = sim.pool("p", {
    target: db,
    maxConnections: 1,
    connectionLatency: latency.constant(7),
  });
  const web = sim.client("web", { target: pool });
  sim.load(web, { kind: "burst", count: 1, atMs: 0 });
  sim.load(web, { kind: "burst", count: 1, atMs: 500 });
  const report = await sim.run({ durationMs: 1_000 });
  assert.equal(web.responseTimePercentile(1), 17); // 7 to connect + 10 served
  assert.equal(web.responseTimePercentile(0), 10); // reused
  assert.deepEqual(report.pools.p, {
    connectionsCreated: 1,
    connectionsClosed: 0,
    acquisitions: 2,
    releases: 2,
    timeouts: 0,
    totalWaitTimeMs: 7,
  });
});

Deno.test("pool: waiting past connectionTimeoutMs counts a pool timeout and a client connectionWaitTimeouts", async () => {
  const sim = new Simulation();
  const db = sim.server("db", { latency: latency.constant(100), concurrency: 4 });
  const pool = sim.pool("p", { target: db, maxConnections: 1, connectionTimeoutMs: 5 });
  const web = sim.client("web", { target: pool, policy: { retry: { maxAttempts: 3 } } });
  sim.load(web, { kind: "burst", count: 2, atMs: 0 });
  const report = await sim.run({ durationMs: 1_000 });
  assert.equal(report.pools.p.timeouts, 1);
  assert.equal(report.pools.p.acquisitions, 1);
  const stats = report.clients.web.stats;
  assert.equal(stats.connectionWaitTimeouts, 1);
  // PoolTimeoutError is permanent (the local pool is full): no retry.
  assert.equal(stats.failed, 1);
  assert.equal(stats.retries, 0);
  assert.equal(stats.succeeded, 1);
  assert.equal(web.responseTimePercentile(0), 5); // the failed call gave up after 5 ms
});

Deno.test("pool: idle connections above minConnections close after idleTimeoutMs", async () => {
  const sim = new Simulation();
  const db = sim.server("db", { latency: latency.constant(10), concurrency: 3 });
  const pool = sim.pool("p", {
    target: db,
    minConnections: 1,
    maxConnections: 3,
    idleTimeoutMs: 1_000,
  });
  const web = sim.client("web", { target: pool });
  sim.load(web, { kind: "burst", count: 3, atMs: 0 });
  const open: number[] = [];
  for (const at of [5, 1_009, 1_011]) sim.clock.setTimer(() => open.push(pool.open), at);
  const report = await sim.run({ durationMs: 1_100 });
  // Released at 10 ms; idle until 1,010 ms; one kept (minConnections).
  assert.deepEqual(open, [3, 3, 1]);
  assert.equal(report.pools.p.connectionsCreated, 3);
  assert.equal(report.pools.p.connectionsClosed, 2);
  assert.equal(report.pools.p.acquisitions, report.pools.p.releases);
});

Deno.test("pool: a caller that gives up mid request closes its connection", async () => {
  const sim = new Simulation();
  const db = sim.server("db", { latency: latency.constant(100), concurrency: 2 });
  const pool = sim.pool("p", { target: db, maxConnections: 2 });
  const web = sim.client("web", {
    target: pool,
    timeoutMs: 50,
    policy: { retry: { maxAttempts: 1 } },
  });
  sim.load(web, { kind: "burst", count: 1, atMs: 0 });
  const report = await sim.run({ durationMs: 10 });
  assert.equal(report.clients.web.stats.timeouts, 1);
  assert.equal(report.clients.web.stats.responsesReceived, 0);
  assert.deepEqual(report.pools.p, {
    connectionsCreated: 1,
    connectionsClosed: 1,
    acquisitions: 1,
    releases: 1,
    timeouts: 0,
    totalWaitTimeMs: 0,
  });
  assert.equal(report.servers.db.served, 1); // served anyway: nobody told the server
});

Deno.test("pool: bad options name the option", () => {
  const sim = new Simulation();
  const db = sim.server("db", { latency: latency.constant(1) });
  assert.throws(
    () => sim.pool("p", { target: db, minConnections: 3, maxConnections: 2 }),
    {
      name: "RangeError",
      message: "maxConnections must be an integer >= minConnections (3): received 2",
    },
  );
  assert.throws(
    () => sim.pool("p", { target: "db" as never }),
    { name: "TypeError", message: 'target must be a server of this simulation: received "db"' },
  );
  assert.throws(
    () => sim.pool("p", { target: db, connectionTimeoutMs: 0 }),
    /connectionTimeoutMs must be a number > 0: received 0/,
  );
  assert.throws(
    () => sim.pool("p", { target: db, size: 1 } as never),
    /size is not a known option/,
  );
});

Deno.test("stats() are frozen snapshots, readable during a run", async () => {
  const sim = new Simulation();
  const db = sim.server("db", { latency: latency.constant(10) });
  const pool = sim.pool("p", { target: db, maxConnections: 1 });
  const web = sim.client("web", { target: pool });
  sim.load(web, { kind: "constant", ratePerSecond: 10, toMs: 3_000 });
  const seen: number[] = [];
  const report = await sim.run({
    durationMs: 3_000,
    onProgress: () => seen.push(web.stats().succeeded),
  });
  assert.deepEqual(seen, [10, 20, 30]);
  const snapshot = web.stats();
  assert.ok(
    Object.isFrozen(snapshot) && Object.isFrozen(db.stats()) && Object.isFrozen(pool.stats()),
  );
  assert.throws(() => ((snapshot as { requests: number }).requests = 0), TypeError);
  assert.deepEqual(report.clients.web.stats, { ...snapshot });
  assert.deepEqual(report.pools.p, { ...pool.stats() });
  assert.equal(db.stats().served, 30);
});
