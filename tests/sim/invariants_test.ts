import assert from "node:assert/strict";
import { seededRandom } from "@bulwark/bulwark";
import {
  type LatencyJSON,
  runScenario,
  type Scenario,
  type SimulationReport,
} from "@bulwark/bulwark/sim";

/** A random scenario: servers, maybe pools, clients with assorted policies, loads, changes. */
function randomScenario(seed: number): Scenario {
  const r = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const latencies: LatencyJSON[] = [
    { kind: "constant", ms: int(1, 30) },
    // Whole divisors of a second: answers land exactly on second boundaries and the run's end.
    { kind: "constant", ms: pick([50, 100, 250, 500, 1_000]) },
    { kind: "uniform", minMs: 1, maxMs: int(2, 60) },
    { kind: "exponential", meanMs: int(1, 30) },
    { kind: "lognormal", medianMs: int(5, 20), p99Ms: int(40, 400) },
    {
      kind: "mixture",
      parts: [{ weight: 9, dist: { kind: "constant", ms: 5 } }, {
        weight: 1,
        dist: { kind: "exponential", meanMs: 200 },
      }],
    },
  ];
  const scenario: Scenario = {
    seed,
    durationMs: int(2, 6) * 1_000,
    servers: {},
    pools: {},
    clients: {},
    loads: [],
    changes: [],
  };
  const servers = Array.from({ length: int(1, 2) }, (_, i) => `s${i}`);
  for (const name of servers) {
    scenario.servers[name] = {
      latency: pick(latencies),
      concurrency: int(1, 8),
      ...(r() < 0.7 ? { queue: int(0, 50) } : {}),
      errorRate: pick([0, 0, 0.1, 0.5]),
      rejectStatus: pick([503, 429, 409]),
      cancelOnClientTimeout: r() < 0.5,
      ...(r() < 0.3 ? { contention: "occ" as const } : {}),
      ...(r() < 0.3 ? { networkLatency: { kind: "uniform" as const, minMs: 0, maxMs: 20 } } : {}),
    };
    scenario.changes!.push({ server: name, atMs: int(0, 3_000), latencyFactor: pick([0.5, 2, 5]) });
    scenario.changes!.push({ server: name, atMs: int(0, 3_000), errorRate: pick([0, 1]) });
  }
  const targets = [...servers];
  if (r() < 0.6) {
    scenario.pools!.p = {
      target: pick(servers),
      minConnections: int(0, 2),
      maxConnections: int(2, 6),
      connectionTimeoutMs: int(5, 200),
      idleTimeoutMs: int(50, 2_000),
      connectionLatency: { kind: "uniform", minMs: 0, maxMs: 10 },
    };
    targets.push("p");
  }
  for (let i = 0; i < int(1, 3); i++) {
    const policy: Record<string, unknown> = {
      retry: {
        maxAttempts: int(1, 5),
        backoff: pick([
          { type: "exponential", baseMs: 5, maxMs: 200 },
          { type: "fullJitter", baseMs: 5, maxMs: 200 },
          { type: "decorrelatedJitter", baseMs: 5, maxMs: 200 },
        ]),
        ...(r() < 0.5 ? { retryBudget: { ratio: 0.2 } } : {}),
      },
    };
    if (r() < 0.3) policy.deadlineMs = int(50, 500);
    if (r() < 0.5) policy.circuit = { kind: "consecutive", threshold: int(2, 10), breakMs: 500 };
    if (r() < 0.3) policy.bulkhead = { maxConcurrent: int(1, 10), maxQueue: int(0, 10) };
    if (r() < 0.3) policy.hedge = { delayMs: pick([int(5, 100), "p90"]), maxHedges: int(1, 2) };
    if (r() < 0.2) policy.rateLimit = { ratePerSecond: int(5, 100), maxWaitMs: pick([0, 50]) };
    scenario.clients[`c${i}`] = {
      target: pick(targets),
      ...(r() < 0.7 ? { timeoutMs: int(20, 300) } : {}),
      policy,
    };
    scenario.loads.push(
      pick(
        [
          { kind: "poisson", client: `c${i}`, ratePerSecond: int(10, 300) },
          { kind: "constant", client: `c${i}`, ratePerSecond: int(10, 300), fromMs: 500 },
          { kind: "constant", client: `c${i}`, ratePerSecond: pick([10, 20, 50, 100]) },
          { kind: "burst", client: `c${i}`, count: int(1, 100), atMs: int(0, 1_000) },
        ] as const,
      ),
    );
  }
  return scenario;
}

const sum = <R>(rows: readonly R[], key: keyof R) =>
  rows.reduce((s, row) => s + (row[key] as number), 0);

function checkInvariants(scenario: Scenario, report: SimulationReport): void {
  const where = `seed ${scenario.seed}`;
  assert.equal(report.drained, true, where);
  for (const [name, c] of Object.entries(report.clients)) {
    const s = c.stats;
    const at = `${where} client ${name}`;
    assert.equal(s.requests, s.succeeded + s.failed, at);
    assert.equal(s.failures, s.failed, at);
    // First attempts: one per call that got as far as an attempt.
    assert.ok(s.requestsSent - s.retries <= s.requests, at);
    // Every attempt sent ends answered, timed out, out of the pool's patience, or
    // cancelled (deadline, losing hedge).
    const ended = s.responsesReceived + s.timeouts + s.connectionWaitTimeouts +
      s.cancelledAttempts;
    assert.equal(s.requestsSent, ended, at);
    assert.ok(s.succeeded <= s.responsesReceived, at);
    assert.equal(sum(c.timeline, "started"), s.requests, at);
    assert.equal(sum(c.timeline, "succeeded"), s.succeeded, at);
    assert.equal(sum(c.timeline, "failed"), s.failed, at);
    assert.equal(sum(c.timeline, "attempts"), s.requestsSent, at);
    if (s.requests > 0) {
      const l = c.latency;
      assert.ok(l.p50! <= l.p90! && l.p90! <= l.p99! && l.p99! <= l.p999!, at);
      assert.equal(c.amplification, s.requestsSent / s.requests, at);
    }
  }
  for (const [name, s] of Object.entries(report.servers)) {
    const at = `${where} server ${name}`;
    assert.equal(s.received, s.served + s.rejected + s.dropped, at);
    assert.ok(s.errors + s.conflicts <= s.served, at);
    assert.equal(sum(s.timeline, "served"), s.served, at);
  }
  for (const [name, p] of Object.entries(report.pools)) {
    const at = `${where} pool ${name}`;
    assert.equal(p.acquisitions, p.releases, at);
    assert.ok(p.connectionsCreated >= p.connectionsClosed, at);
    assert.ok(p.totalWaitTimeMs >= 0, at);
  }
}

Deno.test("accounting invariants hold over 40 random scenarios", async () => {
  let requests = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const scenario = randomScenario(seed);
    const report = await runScenario(scenario);
    checkInvariants(scenario, report);
    for (const c of Object.values(report.clients)) requests += c.stats.requests;
  }
  assert.ok(requests > 10_000, `only ${requests} calls: the scenarios are too small to test much`);
});

Deno.test("same scenario, same seed: the same JSON report, byte for byte", async () => {
  for (const seed of [3, 17]) {
    const a = JSON.stringify(await runScenario(randomScenario(seed)));
    const b = JSON.stringify(await runScenario(randomScenario(seed)));
    assert.equal(a, b);
    const other = JSON.parse(JSON.stringify(randomScenario(seed)));
    other.seed = seed + 1000;
    assert.notEqual(JSON.stringify(await runScenario(other)), a);
  }
});
