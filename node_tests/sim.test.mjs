// The simulation entry point on Node: a scenario with an outage runs in
// virtual time, its report adds up, and one seed gives one report.
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatSummary, latency, runScenario, Simulation } from "@bulwark/bulwark/sim";

/** A server with an outage between 10 s and 15 s, and a client retrying through a pool. */
async function outage(seed) {
  const sim = new Simulation({ seed });
  const db = sim.server("db", {
    latency: latency.lognormal({ medianMs: 20, p99Ms: 200 }),
    concurrency: 8,
    queue: 32,
  });
  db.at(10_000, { errorRate: 1 }).at(15_000, { errorRate: 0 });
  const pool = sim.pool("db-pool", {
    target: db,
    minConnections: 2,
    maxConnections: 8,
    connectionTimeoutMs: 1_000,
    connectionLatency: latency.constant(5),
  });
  const web = sim.client("web", {
    target: pool,
    timeoutMs: 500,
    policy: { retry: { maxAttempts: 3, retryBudget: { ratio: 0.1 } } },
  });
  sim.load(web, { kind: "poisson", ratePerSecond: 50, toMs: 20_000 });
  return await sim.run({ durationMs: 20_000 });
}

test("a simulated outage on Node: the report adds up and the seed decides it", async () => {
  const started = performance.now();
  const report = await outage(42);
  const wall = performance.now() - started;
  const { stats, amplification } = report.clients.web;
  assert.equal(stats.requests, stats.succeeded + stats.failed);
  assert.ok(
    stats.requests > 800 && stats.requests < 1_200,
    `${stats.requests} requests`,
  );
  assert.ok(stats.failed > 0, "the outage failed calls");
  assert.ok(stats.succeeded > stats.failed);
  assert.ok(amplification >= 1);
  const server = report.servers.db;
  assert.equal(
    server.received,
    server.served + server.rejected + server.dropped,
  );
  assert.equal(
    report.pools["db-pool"].acquisitions,
    report.pools["db-pool"].releases,
  );
  assert.ok(wall < 10_000, `20 s of virtual time took ${Math.round(wall)} ms`);

  assert.equal(
    JSON.stringify(await outage(42)),
    JSON.stringify(report),
    "same seed, same report",
  );
  assert.notEqual(JSON.stringify(await outage(43)), JSON.stringify(report));
  assert.match(formatSummary(report), /web/);
});

test("a scenario from JSON runs on Node", async () => {
  const report = await runScenario({
    seed: 7,
    durationMs: 10_000,
    servers: {
      db: { latency: { kind: "exponential", meanMs: 10 }, concurrency: 1 },
    },
    clients: { web: { target: "db", policy: { retry: { maxAttempts: 1 } } } },
    loads: [{
      client: "web",
      kind: "poisson",
      ratePerSecond: 50,
      toMs: 10_000,
    }],
  });
  assert.equal(
    report.servers.db.received,
    report.clients.web.stats.requestsSent,
  );
  assert.ok(report.clients.web.stats.requests > 0);
});
