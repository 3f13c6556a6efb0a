/**
 * Simulation throughput: simulated requests per wall-clock second through a
 * client with a retry + circuit policy against one server, at 10,000 and
 * 100,000 requests (cost should be linear: 10x requests <= 11x time), and
 * the heap growth of a run of 1,000,000 requests (printed once; memory must
 * not grow with the number of requests). Run with `deno bench bench/sim_bench.ts`.
 */
import { latency, Simulation } from "../sim.ts";

/** Runs `requests` calls at 10,000/s; returns the calls made and the largest heap growth seen. */
export async function simulate(requests: number): Promise<{ calls: number; heapGrowth: number }> {
  const sim = new Simulation({ seed: 1 });
  const db = sim.server("db", {
    latency: latency.exponential(1),
    concurrency: 100,
    errorRate: 0.01,
  });
  const web = sim.client("web", {
    target: db,
    timeoutMs: 100,
    policy: {
      retry: { maxAttempts: 3, backoff: { type: "fullJitter", baseMs: 1, maxMs: 50 } },
      circuit: { kind: "consecutive", threshold: 5, breakMs: 1_000 },
    },
  });
  const durationMs = requests / 10;
  sim.load(web, { kind: "constant", ratePerSecond: 10_000, toMs: durationMs });
  const base = Deno.memoryUsage().heapUsed;
  let peak = base;
  const report = await sim.run({
    durationMs,
    onProgress: () => {
      const used = Deno.memoryUsage().heapUsed;
      if (used > peak) peak = used;
    },
  });
  return { calls: report.clients.web.stats.requests, heapGrowth: peak - base };
}

Deno.bench(
  { name: "10,000 simulated requests", group: "sim", baseline: true, n: 5, warmup: 1 },
  async () => {
    await simulate(10_000);
  },
);

Deno.bench({ name: "100,000 simulated requests", group: "sim", n: 5, warmup: 1 }, async () => {
  await simulate(100_000);
});

Deno.bench({ name: "1,000,000 simulated requests", group: "sim-1m", n: 1, warmup: 0 }, async () => {
  const start = performance.now();
  const { calls, heapGrowth } = await simulate(1_000_000);
  const seconds = (performance.now() - start) / 1000;
  console.log(
    `1,000,000 requests: ${calls} calls in ${seconds.toFixed(2)} s (${
      Math.round(calls / seconds)
    } requests/s), heap growth ${(heapGrowth / 2 ** 20).toFixed(1)} MB`,
  );
});
