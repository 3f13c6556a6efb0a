import assert from "node:assert/strict";
import { runScenario, type SimulationReport } from "@bulwark/bulwark/sim";

const ROOT = new URL("../../", import.meta.url);
const SCENARIOS = ["retry_storm.json", "jitter_herd.json", "deadline_propagation.json"];

async function simulate(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "scripts/simulate.ts", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder();
  return {
    code: output.code,
    stdout: text.decode(output.stdout),
    stderr: text.decode(output.stderr),
  };
}

for (const file of SCENARIOS) {
  Deno.test(`simulate runs ${file} (--json, short) and another process gets the same report byte for byte`, async () => {
    const path = `examples/scenarios/${file}`;
    const { code, stdout, stderr } = await simulate(path, "--json", "--duration-ms", "5000");
    assert.equal(code, 0, stderr);
    const report: SimulationReport = JSON.parse(stdout);
    assert.equal(report.durationMs, 5_000);
    assert.equal(report.drained, true);
    for (const [name, c] of Object.entries(report.clients)) {
      assert.ok(c.stats.requests > 0, name);
      assert.equal(c.stats.requests, c.stats.succeeded + c.stats.failed, name);
    }
    for (const s of Object.values(report.servers)) {
      assert.equal(s.received, s.served + s.rejected + s.dropped);
    }
    const here = await runScenario(await Deno.readTextFile(new URL(path, ROOT)), {
      durationMs: 5_000,
    });
    assert.equal(stdout, JSON.stringify(here, null, 2) + "\n");
  });
}

Deno.test("simulate prints the summary table", async () => {
  const { code, stdout } = await simulate("examples/scenarios/jitter_herd.json");
  assert.equal(code, 0);
  const lines = stdout.split("\n");
  assert.match(
    lines[0],
    /^client +calls +succeeded +failed +attempts +ampl\. +timeouts +p50 ms +p99 ms$/,
  );
  // The no-jitter herd (seed 1): 100 calls, every one succeeds after 1,825 attempts in all,
  // 1,725 of them lost write conflicts.
  assert.match(stdout, /\nno-jitter +100 +100 +0 +1825 +18\.25 +0 /);
  assert.match(
    stdout,
    /\nserver +received +served +errors +conflicts +rejected +dropped +max queued\n/,
  );
  assert.match(stdout, /\nno-jitter +1825 +1825 +0 +1725 +0 +0 +0\n/);
});

Deno.test("simulate rejects a bad scenario with the JSON paths, and bad arguments with the usage", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/bad.json`;
    await Deno.writeTextFile(
      file,
      JSON.stringify({
        durationMs: 1000,
        servers: { db: { latency: { kind: "gamma" }, concurrency: 0 } },
        clients: { web: { target: "nowhere" } },
        loads: [{ kind: "poisson", client: "web", ratePerSecond: -1 }],
      }),
    );
    const bad = await simulate(file);
    assert.equal(bad.code, 1);
    assert.match(
      bad.stderr,
      /servers\.db\.latency\.kind must be "constant", "uniform", "exponential", "lognormal" or "mixture": received "gamma"/,
    );
    assert.match(bad.stderr, /servers\.db\.concurrency must be an integer >= 1: received 0/);
    assert.match(
      bad.stderr,
      /loads\[0\]\.ratePerSecond must be a number > 0 and <= 100000: received -1/,
    );
    const usage = await simulate("--frobnicate");
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /usage: deno task simulate FILE \[--json\] \[--html OUT\]/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("simulate --html writes the report", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/report.html`;
    const { code, stderr } = await simulate(
      "examples/scenarios/deadline_propagation.json",
      "--duration-ms",
      "3000",
      "--html",
      out,
    );
    assert.equal(code, 0, stderr);
    const html = await Deno.readTextFile(out);
    assert.match(html, /<title>deadline_propagation\.json<\/title>/);
    assert.equal(html.match(/<svg /g)?.length, 5);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function hasScript(): Promise<boolean> {
  try {
    return (await new Deno.Command("script", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output()).success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "simulate draws a progress bar on a terminal (and only there)",
  ignore: !(await hasScript()),
  async fn() {
    // util-linux `script` runs the task under a pseudo-terminal.
    const command = `"${Deno.execPath()}" run --allow-read scripts/simulate.ts ` +
      "examples/scenarios/deadline_propagation.json --duration-ms 3000";
    const output = await new Deno.Command("script", {
      args: ["-qec", command, "/dev/null"],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.stdout);
    assert.equal(output.code, 0, text);
    assert.match(text, /\r\[#{10}\.{20}\] +33% +1 s of 3 s/);
    assert.match(text, /\r\[#{30}\] 100% +3 s of 3 s/);
    assert.match(text, /client +calls +succeeded/);
    // Without a terminal: no bar.
    const piped = await simulate(
      "examples/scenarios/deadline_propagation.json",
      "--duration-ms",
      "3000",
    );
    assert.doesNotMatch(piped.stderr + piped.stdout, /\[#+/);
  },
});

Deno.test("simulate: a file it cannot read is one line and exit 3, no stack trace", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = await simulate(`${dir}/nope.json`);
    assert.equal(missing.code, 3);
    assert.equal(
      missing.stderr,
      `${dir}/nope.json: cannot read: No such file or directory (os error 2): readfile '${dir}/nope.json'\n`,
    );
    const folder = await simulate(dir);
    assert.equal(folder.code, 3);
    assert.match(folder.stderr, new RegExp(`^${dir}: cannot read: Is a directory .*\n$`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("simulate: an --html file it cannot write is found before the run: exit 4, no stack trace", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const scenario = "examples/scenarios/deadline_propagation.json";
    const noFolder = await simulate(scenario, "--html", `${dir}/missing/out.html`);
    assert.equal(noFolder.code, 4);
    assert.equal(noFolder.stdout, ""); // nothing was run
    assert.equal(
      noFolder.stderr,
      `${dir}/missing/out.html: cannot write: No such file or directory (os error 2): open '${dir}/missing/out.html'\n`,
    );
    await Deno.writeTextFile(`${dir}/file`, "");
    const underFile = await simulate(scenario, "--html", `${dir}/file/out.html`);
    assert.equal(underFile.code, 4);
    assert.match(underFile.stderr, /^.*\/file\/out\.html: cannot write: Not a directory .*\n$/);
    const folder = await simulate(scenario, "--html", dir);
    assert.equal(folder.code, 4);
    assert.match(folder.stderr, /: cannot write: Is a directory /);
    // An invalid scenario leaves no empty report behind.
    await Deno.writeTextFile(`${dir}/bad.json`, "{}");
    const bad = await simulate(`${dir}/bad.json`, "--html", `${dir}/bad.html`);
    assert.equal(bad.code, 1);
    await assert.rejects(() => Deno.lstat(`${dir}/bad.html`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("simulate: --duration-ms must be finite and at most a day: 1e999, Infinity get the usage, exit 2", async () => {
  for (const value of ["1e999", "Infinity", "NaN", "0", "86400001"]) {
    const r = await simulate(
      "examples/scenarios/deadline_propagation.json",
      "--duration-ms",
      value,
    );
    assert.equal(r.code, 2, value);
    assert.equal(
      r.stderr,
      `--duration-ms must be a number > 0 and <= 86400000 (1 day): ${value}\nusage: deno task simulate FILE [--json] [--html OUT] [--duration-ms N]\n`,
    );
  }
});

/** This process's environment without INIT_CWD. */
function withoutInitCwd(): Record<string, string> {
  const env = Deno.env.toObject();
  delete env.INIT_CWD;
  return env;
}

Deno.test("deno task simulate resolves relative paths against the caller's folder", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.copyFile(
      new URL("examples/scenarios/deadline_propagation.json", ROOT),
      `${dir}/dp.json`,
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "task",
        "-q",
        "--config",
        new URL("deno.json", ROOT).pathname,
        "simulate",
        "dp.json",
        "--duration-ms",
        "2000",
        "--html",
        "out.html",
      ],
      cwd: dir,
      // `deno task` sets INIT_CWD only when it is not set yet: under an outer
      // `deno task test` (CI) it would still name the repository root.
      clearEnv: true,
      env: { ...withoutInitCwd(), NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    assert.match(await Deno.readTextFile(`${dir}/out.html`), /<title>dp\.json<\/title>/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
