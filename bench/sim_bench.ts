/**
 * Simulation throughput: simulated requests per wall-clock second through a
 * client with a retry + circuit policy against one server, at 10,000 and
 * 100,000 requests, and the cost of 1,000,000 against 100,000 requests
 * (linear: 10x requests should take <= 11x the time), with the heap growth
 * (memory must not grow with the number of requests). The ratio is taken on
 * CPU time (user + system, `process.cpuUsage`), the median of three runs of
 * each size alternated, so that other work on the machine moves it little;
 * it is printed, not asserted. Run with `deno bench bench/sim_bench.ts`.
 */
import process from "node:process";
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

/** CPU time (ms, user + system) and wall time (ms) of `simulate(requests)`. */
async function measure(
  requests: number,
): Promise<{ cpuMs: number; wallMs: number; calls: number; heapGrowth: number }> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const { calls, heapGrowth } = await simulate(requests);
  const wallMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return { cpuMs: (used.user + used.system) / 1000, wallMs, calls, heapGrowth };
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

Deno.bench(
  { name: "1,000,000 vs 100,000 simulated requests (CPU time)", group: "sim-1m", n: 1, warmup: 0 },
  async () => {
    await simulate(100_000); // JIT warm-up
    const small: number[] = [];
    const large: number[] = [];
    let heap = 0;
    let wall = 0;
    for (let i = 0; i < 3; i++) {
      small.push((await measure(100_000)).cpuMs);
      const run = await measure(1_000_000);
      large.push(run.cpuMs);
      heap = Math.max(heap, run.heapGrowth);
      wall = run.wallMs;
    }
    const ratio = median(large) / median(small);
    console.log(
      `CPU ms, 100,000 requests: ${small.map((ms) => ms.toFixed(0)).join(", ")}; 1,000,000: ${
        large.map((ms) => ms.toFixed(0)).join(", ")
      }; ratio of medians ${ratio.toFixed(2)}x (target <= 11x); ${
        Math.round(1_000_000 / (median(large) / 1000))
      } requests per CPU second; last 1,000,000 run ${
        (wall / 1000).toFixed(2)
      } s wall; heap growth <= ${(heap / 2 ** 20).toFixed(1)} MB`,
    );
  },
);
