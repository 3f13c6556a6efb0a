/**
 * Before a policy goes to production: what does it do to a struggling
 * dependency? Two copies of a service call a database through a connection
 * pool; the database fails every request from 10 s to 15 s. One client
 * retries 5 times with no budget, the other has a retry budget and a
 * circuit breaker. Runs in virtual time in well under a second.
 *
 * Run: deno run examples/simulation.ts
 */
import { formatSummary, latency, Simulation } from "@bulwark/bulwark/sim";

const sim = new Simulation({ seed: 42 });
const policies = {
  eager: { retry: { maxAttempts: 5, backoff: { type: "exponential", baseMs: 10 } } },
  careful: {
    retry: {
      maxAttempts: 5,
      backoff: { type: "fullJitter", baseMs: 10, maxMs: 500 },
      retryBudget: { ratio: 0.1 },
    },
    circuit: { kind: "consecutive", threshold: 5, breakMs: 1_000 },
  },
};
for (const [name, policy] of Object.entries(policies)) {
  const db = sim.server(`${name}-db`, {
    latency: latency.lognormal({ medianMs: 5, p99Ms: 50 }),
    concurrency: 8,
    queue: 100,
  });
  db.at(10_000, { errorRate: 1 }).at(15_000, { errorRate: 0 });
  const pool = sim.pool(`${name}-pool`, {
    target: db,
    minConnections: 2,
    maxConnections: 8,
    connectionTimeoutMs: 200,
    connectionLatency: latency.constant(3),
  });
  const client = sim.client(name, { target: pool, timeoutMs: 250, policy });
  sim.load(client, { kind: "poisson", ratePerSecond: 200, toMs: 30_000 });
}

const report = await sim.run({ durationMs: 30_000 });
console.log(formatSummary(report));
for (const name of Object.keys(policies)) {
  const outage = report.servers[`${name}-db`].timeline.slice(10, 15);
  const load = outage.reduce((sum, row) => sum + row.served, 0) / outage.length;
  console.log(
    `${name}: the failing database served ${load.toFixed(0)} requests/s during the outage`,
  );
}
