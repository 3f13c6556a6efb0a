/**
 * A/B benchmark (not a unit test; CI does not run it): runs one bench file
 * in two checkouts, alternating A, B, A, B..., so that drift of a noisy
 * machine falls on both sides, and prints each bench's median average and
 * median in-run ratio to its group's baseline, with B / A.
 *
 * ```sh
 * git worktree add ../before <commit>
 * deno task bench:ab --a ../before --b . --runs 6 bench/hot_path_bench.ts
 * ```
 *
 * @module
 */

interface BenchJson {
  benches: {
    group: string | null;
    name: string;
    baseline: boolean;
    results: ({ ok: { avg: number } } | Record<string, unknown>)[];
  }[];
}

function parseArgs(args: string[]): { a: string; b: string; runs: number; file: string } {
  let a = "", b = "", runs = 6, file = "";
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--a") a = args[++i];
    else if (arg === "--b") b = args[++i];
    else if (arg === "--runs") runs = Number(args[++i]);
    else file = arg;
  }
  if (a === "" || b === "" || file === "" || !(Number.isInteger(runs) && runs >= 1)) {
    console.error("usage: bench_ab.ts --a DIR --b DIR [--runs N >= 1] BENCH_FILE");
    Deno.exit(2);
  }
  return { a, b, runs, file };
}

/** The development config (the peers' npm packages) of a checkout that has one. */
async function devConfig(dir: string): Promise<string[]> {
  try {
    await Deno.stat(`${dir}/dev/deno.json`);
    return ["--config", "dev/deno.json"];
  } catch {
    return [];
  }
}

/** One run of the bench file in `dir`: avg (ns) and ratio to the group's baseline, by bench. */
async function run(dir: string, file: string): Promise<Map<string, [number, number]>> {
  const out = await new Deno.Command("deno", {
    args: [
      "bench",
      ...await devConfig(dir),
      "--json",
      "--allow-net=127.0.0.1",
      "--allow-env",
      file,
    ],
    cwd: dir,
    stdout: "piped",
    stderr: "null",
  }).output();
  const json = JSON.parse(new TextDecoder().decode(out.stdout)) as BenchJson;
  const avg = (b: BenchJson["benches"][number]) => {
    const r = b.results[0];
    return r !== undefined && "ok" in r ? (r.ok as { avg: number }).avg : NaN;
  };
  const base = new Map<string, number>();
  for (const b of json.benches) if (b.baseline) base.set(b.group ?? "", avg(b));
  const rows = new Map<string, [number, number]>();
  for (const b of json.benches) {
    rows.set(`${b.group ?? ""} | ${b.name}`, [avg(b), avg(b) / (base.get(b.group ?? "") ?? NaN)]);
  }
  return rows;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const { a, b, runs, file } = parseArgs(Deno.args);
const seen: Record<"a" | "b", Map<string, [number, number]>[]> = { a: [], b: [] };
for (let i = 0; i < runs; i++) {
  for (const side of ["a", "b"] as const) {
    console.error(`run ${i + 1} of ${runs}, ${side}...`);
    seen[side].push(await run(side === "a" ? a : b, file));
  }
}
console.log(`| bench | A median | B median | B / A | A ratio | B ratio | B / A (ratios) |`);
console.log(`| --- | ---: | ---: | ---: | ---: | ---: | ---: |`);
for (const key of seen.a[0].keys()) {
  const pick = (side: "a" | "b", k: 0 | 1) => median(seen[side].map((r) => r.get(key)?.[k] ?? NaN));
  const [avgA, avgB, rA, rB] = [pick("a", 0), pick("b", 0), pick("a", 1), pick("b", 1)];
  console.log(
    `| ${key} | ${avgA.toFixed(1)} ns | ${avgB.toFixed(1)} ns | ${(avgB / avgA).toFixed(3)} | ` +
      `${rA.toFixed(3)}x | ${rB.toFixed(3)}x | ${(rB / rA).toFixed(3)} |`,
  );
}
