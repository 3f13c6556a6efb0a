import assert from "node:assert/strict";
import { type BenchJson, collectRuns, timedPerIteration } from "../../scripts/bench_report.ts";

function run(benches: [name: string, avg: number, highPrecision: boolean][]): BenchJson {
  return {
    version: 1,
    runtime: "test",
    cpu: "test",
    benches: benches.map(([name, avg, highPrecision]) => ({
      origin: "file:///x_bench.ts",
      group: "g",
      name,
      baseline: name === "bare",
      results: [{ ok: { n: 1, min: avg, max: avg, avg, p75: avg, p99: avg, highPrecision } }],
    })),
  };
}

Deno.test("collectRuns keeps each run's average and whether it was timed per iteration", () => {
  const rows = collectRuns([
    run([["bare", 80, false], ["full", 240, false]]),
    run([["bare", 82, false], ["full", 330, true]]),
  ]);
  assert.deepEqual(rows.map((r) => [r.name, r.avgs, r.perIteration]), [
    ["bare", [80, 82], [false, false]],
    ["full", [240, 330], [false, true]],
  ]);
});

Deno.test("timedPerIteration names benches under 10 µs timed per iteration, with their runs", () => {
  const rows = collectRuns([
    run([["bare", 80, false], ["full", 330, true], ["spans", 10_500, true], ["ok", 200, false]]),
    run([["bare", 80, false], ["full", 240, false], ["spans", 10_400, true], ["ok", 200, false]]),
    run([["bare", 80, false], ["full", 320, true], ["spans", 10_600, true], ["ok", 200, false]]),
  ]);
  // "spans" is over 10 µs: timing it per iteration is what the harness is for.
  assert.deepEqual(
    timedPerIteration(rows).map(({ row, runs }) => [row.name, runs]),
    [["full", [1, 3]]],
  );
});

Deno.test("collectRuns throws naming a bench missing from a run", () => {
  assert.throws(
    () =>
      collectRuns([run([["bare", 80, false], ["full", 240, false]]), run([["bare", 80, false]])]),
    { message: 'bench "full" (g) is missing from some runs' },
  );
});
