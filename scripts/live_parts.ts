/**
 * What each part of a policy costs a call when 10,000 policies are live:
 * for a policy with a deadline and an attempt timeout, then the same with
 * one part (circuit, failure budget, bulkhead) and with all three, the time
 * per successful call through one policy and round-robin through 10,000,
 * each configuration in its own process (no other configuration's code
 * shapes warm in it). Best of 7 rounds of 200,000 calls each (the least
 * disturbed by a noisy machine). `bench/live_policies_bench.ts` measures
 * the full policy with `deno bench`.
 *
 * ```sh
 * deno run --allow-run --allow-read scripts/live_parts.ts
 * ```
 *
 * @module
 */
import { constant, policy, type PolicyOptions } from "../mod.ts";

const PARTS: Record<string, PolicyOptions> = {
  "deadline + attempt timeout": {},
  "+ circuit": { circuit: { kind: "consecutive", threshold: 5, breakMs: 30_000 } },
  "+ failure budget": { failureBudget: { threshold: 0.6, windowMs: 30_000, minSamples: 50 } },
  "+ bulkhead": { bulkhead: { maxConcurrent: 10, maxQueue: 100 } },
  "+ all three (the full policy)": {
    circuit: { kind: "consecutive", threshold: 5, breakMs: 30_000 },
    failureBudget: { threshold: 0.6, windowMs: 30_000, minSamples: 50 },
    bulkhead: { maxConcurrent: 10, maxQueue: 100 },
  },
};
const ROUNDS = 7;
const CALLS = 200_000;
const fn = (): Promise<number> => Promise.resolve(42);

/** ns per call, calling the policies round-robin. */
async function perCall(policies: { execute(f: typeof fn): Promise<number> }[]): Promise<number> {
  let k = 0;
  const start = performance.now();
  for (let i = 0; i < CALLS; i++) {
    const p = policies[k];
    k = k + 1 === policies.length ? 0 : k + 1;
    await p.execute(fn);
  }
  return (performance.now() - start) * 1e6 / CALLS;
}

/** Measures one configuration (in a child process): prints `one many` in ns. */
async function measure(name: string): Promise<void> {
  const make = (i: number) =>
    policy(`p-${i}`, {
      deadlineMs: 2_000,
      attemptTimeoutMs: 500,
      retry: { maxAttempts: 3, backoff: constant(10) },
      telemetry: false,
      ...PARTS[name],
    });
  const one = [make(0)];
  const many = Array.from({ length: 10_000 }, (_, i) => make(i));
  let best1 = Infinity, bestMany = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    best1 = Math.min(best1, await perCall(one));
    bestMany = Math.min(bestMany, await perCall(many));
  }
  console.log(`${best1} ${bestMany}`);
}

if (import.meta.main) {
  const [child] = Deno.args;
  if (child !== undefined) await measure(child);
  else {
    console.log("| policy | 1 policy | 10,000 policies | ratio | 10,000 minus 1 |");
    console.log("| --- | ---: | ---: | ---: | ---: |");
    for (const name of Object.keys(PARTS)) {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", import.meta.filename!, name],
        stderr: "inherit",
      }).output();
      if (!output.success) Deno.exit(1);
      const [one, many] = new TextDecoder().decode(output.stdout).trim().split(" ").map(Number);
      console.log(
        `| ${name} | ${one.toFixed(0)} ns | ${many.toFixed(0)} ns | ${(many / one).toFixed(2)}x | ${
          (many - one).toFixed(0)
        } ns |`,
      );
    }
  }
}
