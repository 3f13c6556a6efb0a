/**
 * `deno task simulate FILE [--json] [--html OUT] [--duration-ms N]`: runs a
 * scenario file, shows a progress bar on a terminal, prints the summary
 * table (or, with --json, the whole report as JSON), and with --html
 * writes a self-contained HTML report with SVG charts.
 *
 * --duration-ms N replaces the scenario's durationMs (a short run, e.g. in
 * CI). Exit status: 0 on success, 1 on an invalid scenario, 2 on bad
 * arguments.
 */
import {
  formatSummary,
  renderHtmlReport,
  runScenario,
  type Scenario,
  ScenarioError,
  type SimulationProgress,
} from "../sim.ts";

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
      if (!(durationMs > 0)) throw new Error(`--duration-ms must be a number > 0: ${args[i]}`);
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

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs(Deno.args);
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const text = await Deno.readTextFile(args.file);
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
  if (args.html !== undefined) {
    const markers = (scenario.changes ?? []).map((c) => ({
      atMs: c.atMs,
      label: c.server,
    }));
    // One marker per instant: scenarios often change several servers at once.
    const unique = [...new Map(markers.map((m) => [m.atMs, m])).values()];
    await Deno.writeTextFile(
      args.html,
      renderHtmlReport(report, {
        title: args.file.split("/").pop()!,
        ...(scenario.description === undefined ? {} : { description: scenario.description }),
        markers: unique.map((m) => ({ atMs: m.atMs, label: `${m.atMs / 1000} s` })),
      }),
    );
    console.error(`wrote ${args.html}`);
  }
  return 0;
}

Deno.exit(await main());
