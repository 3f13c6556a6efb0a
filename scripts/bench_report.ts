/**
 * Benchmark check (not a unit test; CI does not run it): runs `deno task
 * bench --json` and then `bench/otel_deno_bench.ts` under `OTEL_DENO=true`
 * (Deno's built-in OpenTelemetry, exporting to a local sink), prints every
 * bench as a ratio to the bare baseline of its group, checks the targets of
 * docs/performance.md and exits 1 when one is missed (2 when the benches
 * could not be run).
 *
 * ```sh
 * deno task bench:report              # one run
 * deno task bench:report --runs 3     # the median of each bench's average over 3 runs
 * deno bench --config dev/deno.json --json bench/ > a.json   # ...or check saved runs:
 * deno task bench:report --input a.json --input b.json
 * ```
 *
 * @module
 */

/** One bench's statistics as `deno bench --json` prints them (times in ns). */
export interface BenchStats {
  n: number;
  min: number;
  max: number;
  avg: number;
  p75: number;
  p99: number;
  /**
   * True when the harness timed each iteration on its own (its warm-up
   * averaged over 10 µs); the average then includes its clock reads.
   */
  highPrecision?: boolean;
}

/** The output of `deno bench --json` (version 1). */
export interface BenchJson {
  version: number;
  runtime: string;
  cpu: string;
  benches: {
    origin: string;
    group: string | null;
    name: string;
    baseline: boolean;
    results: ({ ok: BenchStats } | { failed: string } | Record<string, unknown>)[];
  }[];
}

/** One bench over the runs. */
export interface Row {
  group: string;
  name: string;
  baseline: boolean;
  /** Each run's average time per iteration, ns, by run index. */
  avgs: number[];
  /** By run index: the harness timed each iteration on its own ({@link BenchStats.highPrecision}). */
  perIteration: boolean[];
}

/** Reads a bench's average in one run; throws when it is missing. */
type Avg = (group: string, name: string) => number;

interface Target {
  /** What is checked, in words. */
  label: string;
  /** The check as a formula. */
  formula: string;
  /** Returns the measured value and the limit it must not exceed, in one run. */
  check(avg: Avg, ratio: Avg): { value: number; limit: number; unit: "x" | "ns" };
}

const HOT = "hot path";
const TELEMETRY = "telemetry";
const OTEL_DENO = "telemetry (OTEL_DENO)";
const HAND_FULL = 'hand-written: what "full" records (2 spans, 2 histograms, 1 counter), no engine';
/** The same hand-written telemetry measured again after Bulwark's (group OTEL_DENO: A, B, A). */
const HAND_FULL_AGAIN = `${HAND_FULL} (again, after)`;
const LIVE = "live policies";
const PRIMITIVES = "primitives";
const FULL_NO_SDK = "bulwark full policy (default telemetry, no SDK)";

/** The targets of the hot-path issue; see docs/performance.md. */
export const TARGETS: readonly Target[] = [
  {
    label: "retry-only policy <= 1.1x the retry floor",
    formula:
      "avg(bulwark retry-only policy) / avg(retry floor: then with both handlers + call state) <= 1.1",
    check: (avg) => ({
      value: avg(HOT, "bulwark retry-only policy") /
        avg(PRIMITIVES, "retry floor: then with both handlers + call state"),
      limit: 1.1,
      unit: "x",
    }),
  },
  {
    label: "full policy, no OTel SDK, <= 1.3x the deadline floor",
    formula: `avg(${FULL_NO_SDK}) / avg(deadline floor: own promise settled from a then) <= 1.3`,
    check: (avg) => ({
      value: avg(HOT, FULL_NO_SDK) /
        avg(PRIMITIVES, "deadline floor: own promise settled from a then"),
      limit: 1.3,
      unit: "x",
    }),
  },
  {
    label: "full policy, no OTel SDK, >= 30x faster than cockatiel wrap(retry, breaker, timeout)",
    formula: `30 * avg(${FULL_NO_SDK}) <= avg(cockatiel wrap(retry, circuitBreaker, timeout))`,
    check: (avg) => ({
      value: 30 * avg(HOT, FULL_NO_SDK),
      limit: avg(HOT, "cockatiel wrap(retry, circuitBreaker, timeout)"),
      unit: "ns",
    }),
  },
  {
    label: "full policy, no OTel SDK, >= 1.5x faster than p-retry",
    formula: `1.5 * avg(${FULL_NO_SDK}) <= avg(p-retry)`,
    check: (avg) => ({
      value: 1.5 * avg(HOT, FULL_NO_SDK),
      limit: avg(HOT, "p-retry"),
      unit: "ns",
    }),
  },
  {
    label: 'SDK, spans "failures" <= 1.5x a bare call + one histogram record',
    formula:
      'avg(bulwark full policy, SDK, spans "failures") / avg(hand-instrumented: bare call + one histogram record) <= 1.5',
    check: (avg) => ({
      value: avg(TELEMETRY, 'bulwark full policy, SDK, spans "failures"') /
        avg(TELEMETRY, "hand-instrumented: bare call + one histogram record"),
      limit: 1.5,
      unit: "x",
    }),
  },
  {
    label: 'SDK, spans "full" <= startActiveSpan around p-retry + one histogram record',
    formula:
      'avg(bulwark full policy, SDK, spans "full") <= avg(hand-instrumented: startActiveSpan around p-retry + one histogram record)',
    check: (avg) => ({
      value: avg(TELEMETRY, 'bulwark full policy, SDK, spans "full"'),
      limit: avg(
        TELEMETRY,
        "hand-instrumented: startActiveSpan around p-retry + one histogram record",
      ),
      unit: "ns",
    }),
  },
  {
    label: 'SDK, spans "full" <= 1.2x the same telemetry written by hand (no engine)',
    formula:
      'avg(bulwark full policy, SDK, spans "full") / avg(hand-written: what "full" records (2 spans, 2 histograms, 1 counter), no engine) <= 1.2',
    check: (avg) => ({
      value: avg(TELEMETRY, 'bulwark full policy, SDK, spans "full"') /
        avg(TELEMETRY, HAND_FULL),
      limit: 1.2,
      unit: "x",
    }),
  },
  {
    label: 'OTEL_DENO, spans "failures" <= 1.5x a bare call + one histogram record',
    formula:
      'avg(bulwark full policy, spans "failures") / avg(hand-instrumented: bare call + one histogram record) <= 1.5 (group telemetry (OTEL_DENO))',
    check: (avg) => ({
      value: avg(OTEL_DENO, 'bulwark full policy, spans "failures"') /
        avg(OTEL_DENO, "hand-instrumented: bare call + one histogram record"),
      limit: 1.5,
      unit: "x",
    }),
  },
  {
    label: 'OTEL_DENO, spans "full" <= startActiveSpan around p-retry + one histogram record',
    formula:
      'avg(bulwark full policy, spans "full") <= avg(hand-instrumented: startActiveSpan around p-retry + one histogram record) (group telemetry (OTEL_DENO))',
    check: (avg) => ({
      value: avg(OTEL_DENO, 'bulwark full policy, spans "full"'),
      limit: avg(
        OTEL_DENO,
        "hand-instrumented: startActiveSpan around p-retry + one histogram record",
      ),
      unit: "ns",
    }),
  },
  {
    label: 'OTEL_DENO, spans "full" <= 1.2x the same telemetry written by hand (no engine)',
    formula:
      'avg(bulwark full policy, spans "full") / mean(avg(hand-written: what "full" records ...), avg(the same, again, after)) <= 1.2 (group telemetry (OTEL_DENO): measured before and after, so a drift within the run falls on both sides)',
    check: (avg) => ({
      value: avg(OTEL_DENO, 'bulwark full policy, spans "full"') /
        ((avg(OTEL_DENO, HAND_FULL) + avg(OTEL_DENO, HAND_FULL_AGAIN)) / 2),
      limit: 1.2,
      unit: "x",
    }),
  },
  {
    label: "full policy + hedge (fixed delay) <= 1.1x the same policy without hedge",
    formula:
      "avg(bulwark full policy + hedge (fixed delay)) / avg(bulwark full policy) <= 1.1 (group hedge)",
    check: (_, ratio) => ({
      value: ratio("hedge", "bulwark full policy + hedge (fixed delay)"),
      limit: 1.1,
      unit: "x",
    }),
  },
  {
    label: "full policy: 10,000 live policies round-robin <= 2x 1 policy",
    formula:
      "avg(bulwark full policy, 10,000 policies round-robin) <= 2 * avg(bulwark full policy, 1 policy)",
    check: (avg) => ({
      value: avg(LIVE, "bulwark full policy, 10,000 policies round-robin"),
      limit: 2 * avg(LIVE, "bulwark full policy, 1 policy"),
      unit: "ns",
    }),
  },
];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** One row per bench (in first-seen order) holding every run's average. */
export function collectRuns(runs: BenchJson[]): Row[] {
  const rows = new Map<string, Row>();
  runs.forEach((run, index) => {
    for (const bench of run.benches) {
      const group = bench.group ?? "(no group)";
      const key = `${group}\u0000${bench.name}`;
      const result = bench.results[0];
      if (result === undefined || !("ok" in result)) {
        throw new Error(`bench "${bench.name}" (${group}) failed: ${JSON.stringify(result)}`);
      }
      let row = rows.get(key);
      if (row === undefined) {
        row = { group, name: bench.name, baseline: bench.baseline, avgs: [], perIteration: [] };
        rows.set(key, row);
      }
      row.avgs[index] = (result.ok as BenchStats).avg;
      row.perIteration[index] = (result.ok as BenchStats).highPrecision === true;
    }
  });
  for (const row of rows.values()) {
    if (row.avgs.length !== runs.length || row.avgs.includes(undefined as unknown as number)) {
      throw new Error(`bench "${row.name}" (${row.group}) is missing from some runs`);
    }
  }
  return [...rows.values()];
}

/**
 * Benches under 10 µs that `deno bench` timed one iteration at a time in
 * some run, with the runs (1-based). It does so when a bench's 10 ms
 * warm-up averages over 10 µs — one first call of milliseconds (a
 * runtime's first timer, lazy compilation) is enough — and each average
 * then includes two reads of its clock: such a figure is too high.
 */
export function timedPerIteration(rows: Row[]): { row: Row; runs: number[] }[] {
  const found: { row: Row; runs: number[] }[] = [];
  for (const row of rows) {
    const runs = row.perIteration.flatMap((per, i) => per ? [i + 1] : []);
    if (runs.length > 0 && median(row.avgs) < 10_000) found.push({ row, runs });
  }
  return found;
}

function formatNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(1)} ns`;
}

function formatRatio(x: number): string {
  return x >= 100 ? `${x.toFixed(0)}x` : x >= 10 ? `${x.toFixed(1)}x` : `${x.toFixed(2)}x`;
}

/** Runs `deno` with `args` in `root` and parses its `--json` output. */
async function benchJson(
  root: URL,
  args: string[],
  env?: Record<string, string>,
): Promise<BenchJson> {
  const output = await new Deno.Command("deno", {
    args,
    cwd: root,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    console.error(new TextDecoder().decode(output.stderr));
    throw new Error(`deno ${args.join(" ")} exited with code ${output.code}`);
  }
  return JSON.parse(stdout) as BenchJson;
}

/** The bench file that runs only under Deno's built-in OpenTelemetry. */
const OTEL_DENO_BENCH = "bench/otel_deno_bench.ts";

/**
 * One run: `deno task bench --json`, then the built-in-OTel benches again
 * with `OTEL_DENO=true`, exporting OTLP/HTTP to `sink` (a local receiver
 * that accepts and drops everything), merged into one run's results.
 */
async function runBenches(root: URL, sink: string): Promise<BenchJson> {
  const run = await benchJson(root, ["task", "--quiet", "bench", "--json"]);
  const otel = await benchJson(
    root,
    [
      "bench",
      "--config",
      "dev/deno.json",
      "--json",
      "--allow-env",
      "--allow-net=127.0.0.1",
      OTEL_DENO_BENCH,
    ],
    { OTEL_DENO: "true", OTEL_EXPORTER_OTLP_ENDPOINT: sink, OTEL_SERVICE_NAME: "bulwark-bench" },
  );
  return { ...run, benches: [...run.benches, ...otel.benches] };
}

/** A local OTLP/HTTP receiver that drops what it receives (the built-in SDK's export target). */
function startSink(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    await request.arrayBuffer();
    return new Response(null, { status: 200 });
  });
}

async function cpuModel(fallback: string): Promise<string> {
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    return info.match(/^model name\s*:\s*(.+)$/m)?.[1].trim() ?? fallback;
  } catch {
    return fallback;
  }
}

function parseArgs(args: string[]): { runs: number; inputs: string[] } {
  let runs = 1;
  const inputs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const [flag, inline] = arg.split("=", 2);
    const value = () => inline ?? args[++i];
    if (flag === "--runs") runs = Number(value());
    else if (flag === "--input") inputs.push(value());
    else {
      console.error(`unknown argument ${arg}; usage: bench_report.ts [--runs N] [--input FILE]...`);
      Deno.exit(2);
    }
  }
  if (!Number.isInteger(runs) || runs < 1) {
    console.error("--runs must be an integer >= 1");
    Deno.exit(2);
  }
  return { runs, inputs };
}

async function main(): Promise<number> {
  const { runs: runCount, inputs } = parseArgs(Deno.args);
  const root = new URL("../", import.meta.url);
  const runs: BenchJson[] = [];
  try {
    if (inputs.length > 0) {
      for (const file of inputs) runs.push(JSON.parse(await Deno.readTextFile(file)));
    } else {
      const sink = startSink();
      try {
        for (let i = 1; i <= runCount; i++) {
          console.error(`bench run ${i} of ${runCount}...`);
          runs.push(await runBenches(root, `http://127.0.0.1:${sink.addr.port}`));
        }
      } finally {
        await sink.shutdown();
      }
    }
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    return 2;
  }

  let rows: Row[];
  try {
    rows = collectRuns(runs);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    return 2;
  }
  const byKey = new Map(rows.map((r) => [`${r.group}\u0000${r.name}`, r]));
  const baselines = new Map(rows.filter((r) => r.baseline).map((r) => [r.group, r]));
  // Accessors for one run: ratios are taken within a run, where the baseline
  // ran under the same conditions as the benches it is compared with.
  const avgIn = (run: number): Avg => (group, name) => {
    const row = byKey.get(`${group}\u0000${name}`);
    if (row === undefined) throw new Error(`no bench "${name}" in group "${group}"`);
    return row.avgs[run];
  };
  const ratioIn = (run: number): Avg => (group, name) => {
    const base = baselines.get(group);
    if (base === undefined) throw new Error(`group "${group}" has no baseline bench`);
    return avgIn(run)(group, name) / base.avgs[run];
  };
  const runIndexes = runs.map((_, i) => i);

  const first = runs[0];
  const many = runs.length > 1;
  console.log(
    `${first.runtime}, ${await cpuModel(first.cpu)}, ${navigator.hardwareConcurrency} CPUs; ` +
      `${runs.length} run${many ? "s" : ""}` +
      (many ? ": medians over the runs of each average and of each in-run ratio" : ""),
  );
  console.log();
  console.log("| group | bench | avg/iter | ratio to the group's bare baseline |");
  console.log("| --- | --- | ---: | ---: |");
  for (const row of rows) {
    const r = baselines.has(row.group)
      ? formatRatio(median(runIndexes.map((i) => ratioIn(i)(row.group, row.name))))
      : "(no baseline)";
    console.log(`| ${row.group} | ${row.name} | ${formatNs(median(row.avgs))} | ${r} |`);
  }

  const perIteration = timedPerIteration(rows);
  if (perIteration.length > 0) {
    console.log();
    console.log(
      "timed one iteration at a time (a first call of milliseconds in the bench's warm-up), " +
        "so these averages include the harness's clock reads and are too high:",
    );
    for (const { row, runs } of perIteration) {
      console.log(`  - ${row.name} (${row.group}): run ${runs.join(", ")}`);
    }
  }

  console.log();
  console.log(
    `| target | measured | limit (same run) | result${many ? " (median run)" : ""} |`,
  );
  console.log("| --- | ---: | ---: | --- |");
  const missed: string[] = [];
  for (const target of TARGETS) {
    let cells: string;
    try {
      // Evaluate in every run; report the run with the median value/limit.
      const checks = runIndexes.map((i) => target.check(avgIn(i), ratioIn(i)))
        .sort((a, b) => a.value / a.limit - b.value / b.limit);
      const { value, limit, unit } = checks[checks.length >> 1];
      const pass = value <= limit;
      const fmt = unit === "x" ? formatRatio : formatNs;
      const passes = checks.filter((c) => c.value <= c.limit).length;
      const tally = many ? ` (${passes} of ${checks.length} runs)` : "";
      cells = `${fmt(value)} | ${fmt(limit)} | ${pass ? "met" : "MISSED"}${tally}`;
      if (!pass) missed.push(`${target.label}: ${fmt(value)} > ${fmt(limit)} (${target.formula})`);
    } catch (error) {
      cells = `- | - | MISSED (${error instanceof Error ? error.message : error})`;
      missed.push(`${target.label}: ${error instanceof Error ? error.message : error}`);
    }
    console.log(`| ${target.label} | ${cells} |`);
  }
  console.log();
  console.log(`${TARGETS.length - missed.length} of ${TARGETS.length} targets met`);
  if (missed.length > 0) {
    console.log("missed:");
    for (const line of missed) console.log(`  - ${line}`);
    return 1;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
