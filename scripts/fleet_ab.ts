/**
 * The call-path cost of a fleet-synced circuit breaker against a local one,
 * measured in alternating rounds in one process (a noisy machine's drift
 * falls on both), with the median of the per-round ratios. The fleet
 * breaker has live peers' counts. `deno bench --config dev/deno.json
 * bench/fleet_bench.ts` measures the same pairs with `deno bench`.
 *
 * ```sh
 * deno run --config dev/deno.json scripts/fleet_ab.ts
 * ```
 *
 * @module
 */
import { CircuitBreaker } from "../mod.ts";
import { memoryStateStore } from "../fleet.ts";

const fn = () => Promise.resolve(1);
const detector = { kind: "count", size: 100, threshold: 0.5 } as const;
const fleet = { store: memoryStateStore(), syncIntervalMs: 60_000 };
const local = new CircuitBreaker({ name: "local", ...detector });
const synced = new CircuitBreaker({ name: "synced", ...detector, fleet });
const peer = new CircuitBreaker({ name: "synced", ...detector, fleet });
for (let i = 0; i < 100; i++) peer.recordSuccess();
await peer.fleet.sync();
await synced.fleet.sync();
await peer.fleet.close();

const N = 200_000;
const ROUNDS = 15;

/** Average ns per call of `allowCall() + await fn() + recordSuccess()`. */
async function manual(breaker: CircuitBreaker): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < N; i++) {
    if (breaker.allowCall()) {
      await fn();
      breaker.recordSuccess();
    }
  }
  return (performance.now() - start) / N * 1e6;
}

/** Average ns per call of `execute(fn)`. */
async function execute(breaker: CircuitBreaker): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < N; i++) await breaker.execute(fn);
  return (performance.now() - start) / N * 1e6;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (
  const [name, measure] of [["allowCall + await fn() + recordSuccess", manual], [
    "execute(fn)",
    execute,
  ]] as const
) {
  for (let i = 0; i < 3; i++) await measure(local), await measure(synced); // warm up
  const locals: number[] = [], synceds: number[] = [], ratios: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which one runs first.
    const [l, s] = round % 2 === 0
      ? [await measure(local), await measure(synced)]
      : [...[await measure(synced), await measure(local)].reverse()];
    locals.push(l);
    synceds.push(s);
    ratios.push(s / l);
  }
  console.log(
    `${name}: local ${median(locals).toFixed(1)} ns, fleet-synced ${
      median(synceds).toFixed(1)
    } ns, median ratio ${median(ratios).toFixed(2)}x`,
  );
}
await synced.fleet.close();
