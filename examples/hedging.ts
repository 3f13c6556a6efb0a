/**
 * Hedging the tail: a dependency answers 98 % of requests in 10 ms and 2 %
 * in 500 ms (a slow replica, a GC pause). The same 10,000 calls run in
 * virtual time twice, once plain and once with `hedge: { delayMs: "p95" }`,
 * and the latency percentiles and attempts of both are printed.
 *
 *   deno run examples/hedging.ts [--calls N] [--seed N]
 *
 * The idea and the classic figures are from Dean and Barroso, "The Tail at
 * Scale" (CACM 56(2), 2013): a hedge after the 95th percentile cuts the tail
 * for a few percent more requests.
 */
import { type HedgeOptions, policy } from "../mod.ts";
import { seededRandom, VirtualClock } from "../testing.ts";

/** What one run of the experiment measured. */
export interface TailResult {
  /** Calls made. */
  calls: number;
  /** Attempts sent (first attempts and hedges). */
  attempts: number;
  /** Call latency percentiles, ms. */
  p50: number;
  p95: number;
  p99: number;
  p999: number;
}

/**
 * Runs `calls` calls against the 98 % 10 ms / 2 % 500 ms dependency, in
 * virtual time, with the given `hedge` option (or none). Each attempt draws
 * its own latency, so a hedge of a slow attempt is usually fast.
 */
export async function tailExperiment(
  hedge: HedgeOptions | undefined,
  calls = 10_000,
  seed = 42,
): Promise<TailResult> {
  const clock = new VirtualClock();
  const random = seededRandom(seed);
  const search = policy("search", {
    clock,
    random,
    telemetry: false,
    ...(hedge === undefined ? {} : { hedge }),
  });
  const latencies: number[] = [];
  let attempts = 0;
  for (let i = 0; i < calls; i++) {
    const start = clock.now();
    const call = search.execute(async ({ signal }) => {
      attempts++;
      await clock.sleep(random() < 0.98 ? 10 : 500, signal);
      return "hit";
    });
    await clock.runAll();
    await call;
    latencies.push(clock.now() - start);
  }
  latencies.sort((a, b) => a - b);
  // Nearest rank, exact (the calls are few enough to sort).
  const at = (p: number) => latencies[Math.ceil((p / 100) * calls) - 1];
  return { calls, attempts, p50: at(50), p95: at(95), p99: at(99), p999: at(99.9) };
}

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(name);
  return i === -1 ? fallback : Number(Deno.args[i + 1]);
}

if (import.meta.main) {
  const calls = flag("--calls", 10_000);
  const seed = flag("--seed", 42);
  const plain = await tailExperiment(undefined, calls, seed);
  const hedged = await tailExperiment({ delayMs: "p95" }, calls, seed);
  const ms = (v: number) => `${v.toFixed(1)} ms`.padStart(10);
  console.log(`${calls} calls, 98 % at 10 ms and 2 % at 500 ms (seed ${seed})\n`);
  console.log("              p50        p95        p99      p99.9   attempts");
  for (const [label, r] of [["no hedge", plain], ["hedge p95", hedged]] as const) {
    console.log(
      `${label.padEnd(10)}${ms(r.p50)} ${ms(r.p95)} ${ms(r.p99)} ${ms(r.p999)}   ${r.attempts}`,
    );
  }
  console.log(
    `\np99 cut ${(plain.p99 / hedged.p99).toFixed(1)}x for ` +
      `${(100 * (hedged.attempts / plain.attempts - 1)).toFixed(1)} % more attempts`,
  );
}
