/**
 * `deno task simulate FILE [--json] [--html OUT] [--duration-ms N]`: runs a
 * scenario file, shows a progress bar on a terminal, prints the summary
 * table (or, with --json, the whole report as JSON), and with --html
 * writes a self-contained HTML report with SVG charts.
 *
 * --duration-ms N replaces the scenario's durationMs (a short run, e.g. in
 * CI). Relative paths are the caller's: `deno task` runs in the repository
 * root and passes the folder it was started in as INIT_CWD. Exit status: 0
 * on success, 1 on an invalid scenario, 2 on bad arguments, 3 when FILE
 * cannot be read, 4 when the --html file cannot be written (checked before
 * the run).
 */
import { basename, resolve } from "node:path";
import {
  formatSummary,
  renderHtmlReport,
  runScenario,
  type Scenario,
  ScenarioError,
  type SimulationProgress,
} from "../sim.ts";

/** The longest run a scenario may ask for (see the scenario schema's durationMs). */
const DAY_MS = 86_400_000;
const USAGE = "usage: deno task simulate FILE [--json] [--html OUT] [--duration-ms N]";

function parseArgs(args: readonly string[]): {
  file: string;
  json: boolean;
  html?: string;
  durationMs?: number;
} {
  let file: string | undefined;
  let json = false;
  let html: string | undefined;
  let durationMs: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--json") json = true;
    else if (arg === "--html" && i + 1 < args.length) html = args[++i];
    else if (arg === "--duration-ms" && i + 1 < args.length) {
      durationMs = Number(args[++i]);
      if (!Number.isFinite(durationMs) || durationMs <= 0 || durationMs > DAY_MS) {
        throw new Error(`--duration-ms must be a number > 0 and <= ${DAY_MS} (1 day): ${args[i]}`);
      }
    } else if (!arg.startsWith("--") && file === undefined) file = arg;
    else throw new Error(`unexpected argument ${JSON.stringify(arg)}`);
  }
  if (file === undefined) throw new Error("no scenario file");
  return { file, json, html, durationMs };
}

const encoder = new TextEncoder();

/** A one-line progress bar on stderr, redrawn in place. */
function progressBar(): (p: SimulationProgress) => void {
  let last = -1;
  return ({ nowMs, durationMs }) => {
    const fraction = Math.min(1, nowMs / durationMs);
    const percent = Math.floor(fraction * 100);
    if (percent === last) return;
    last = percent;
    const filled = Math.round(fraction * 30);
    const line = `\r[${"#".repeat(filled)}${".".repeat(30 - filled)}] ${
      String(percent).padStart(3)
    }%  ${(nowMs / 1000).toFixed(0)} s of ${(durationMs / 1000).toFixed(0)} s`;
    Deno.stderr.writeSync(encoder.encode(line));
  };
}

/** The folder relative paths are resolved against: the caller's (INIT_CWD under `deno task`). */
function callerFolder(): string {
  const env = Deno.permissions.querySync({ name: "env", variable: "INIT_CWD" });
  return (env.state === "granted" ? Deno.env.get("INIT_CWD") : undefined) ?? Deno.cwd();
}

const message = (error: unknown) => error instanceof Error ? error.message : String(error);

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs(Deno.args);
  } catch (error) {
    console.error(`${message(error)}\n${USAGE}`);
    return 2;
  }
  const folder = callerFolder();
  let text;
  try {
    text = await Deno.readTextFile(resolve(folder, args.file));
  } catch (error) {
    console.error(`${args.file}: cannot read: ${message(error)}`);
    return 3;
  }
  // Open the HTML file before the run: a wrong folder shows at once, not after a long run.
  let html: { path: string; file: Deno.FsFile; created: boolean } | undefined;
  if (args.html !== undefined) {
    const path = resolve(folder, args.html);
    try {
      const created = !(await Deno.lstat(path).then(() => true, () => false));
      html = { path, file: await Deno.open(path, { write: true, create: true }), created };
    } catch (error) {
      console.error(`${args.html}: cannot write: ${message(error)}`);
      return 4;
    }
  }
  let code = 1;
  try {
    code = await simulate(args, text, html?.file);
  } finally {
    html?.file.close();
    // A run that wrote no report leaves no empty file behind.
    if (code !== 0 && html?.created) await Deno.remove(html.path);
  }
  return code;
}

async function simulate(
  args: { file: string; json: boolean; html?: string; durationMs?: number },
  text: string,
  htmlFile: Deno.FsFile | undefined,
): Promise<number> {
  const tty = Deno.stderr.isTerminal();
  let report;
  let scenario: Partial<Scenario> = {};
  try {
    scenario = JSON.parse(text);
  } catch {
    // runScenario reports it as a ScenarioError
  }
  try {
    report = await runScenario(text, {
      ...(tty ? { onProgress: progressBar() } : {}),
      ...(args.durationMs === undefined ? {} : { durationMs: args.durationMs }),
    });
  } catch (error) {
    if (tty) Deno.stderr.writeSync(encoder.encode("\n"));
    if (error instanceof ScenarioError) {
      console.error(`${args.file}: ${error.message}`);
      return 1;
    }
    throw error;
  }
  if (tty) Deno.stderr.writeSync(encoder.encode("\n"));
  if (args.json) console.log(JSON.stringify(report, null, 2));
  else console.log(formatSummary(report));
  if (htmlFile !== undefined) {
    const markers = (scenario.changes ?? []).map((c) => ({
      atMs: c.atMs,
      label: c.server,
    }));
    // One marker per instant: scenarios often change several servers at once.
    const unique = [...new Map(markers.map((m) => [m.atMs, m])).values()];
    const page = renderHtmlReport(report, {
      title: basename(args.file),
      ...(scenario.description === undefined ? {} : { description: scenario.description }),
      markers: unique.map((m) => ({ atMs: m.atMs, label: `${m.atMs / 1000} s` })),
    });
    const bytes = encoder.encode(page);
    await htmlFile.truncate(0);
    for (let at = 0; at < bytes.length;) at += await htmlFile.write(bytes.subarray(at));
    console.error(`wrote ${args.html}`);
  }
  return 0;
}

Deno.exit(await main());
