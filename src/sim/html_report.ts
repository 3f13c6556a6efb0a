/**
 * The simulation's HTML report: one self-contained file (inline CSS and
 * SVG, no script, nothing fetched) with a chart per section and the
 * summary tables.
 *
 * @module
 */

import type { SimulationReport } from "./simulation.ts";
import { type ChartSeries, escapeXml, renderChart } from "./svg_chart.ts";
import { summaryRows } from "./summary.ts";

/** Options of {@link renderHtmlReport}. */
export interface HtmlReportOptions {
  /** Page title. Default "Bulwark simulation". */
  title?: string;
  /** A paragraph under the title (the scenario's description). */
  description?: string;
  /** Vertical markers on the time charts: `{ atMs, label }` (e.g. server changes). */
  markers?: readonly { atMs: number; label: string }[];
}

const COLORS = [
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#9467bd",
  "#ff7f0e",
  "#8c564b",
  "#e377c2",
  "#17becf",
];
const CIRCUIT_STATES = ["closed", "half_open", "open", "isolated"] as const;

function table(rows: readonly (readonly string[])[]): string {
  const [head, ...body] = rows;
  return `<table><thead><tr>${
    head.map((h) => `<th>${escapeXml(h)}</th>`).join("")
  }</tr></thead><tbody>${
    body.map((r) => `<tr>${r.map((c) => `<td>${escapeXml(c)}</td>`).join("")}</tr>`).join("")
  }</tbody></table>`;
}

/**
 * The last second the charts show: the loads' window, then the drain up to
 * the last second in which anything happened (a call started, settled or
 * sent an attempt, a server served, queued or worked, a circuit was not
 * closed). Only trailing seconds where nothing happened are left out.
 */
function lastActiveSecond(report: SimulationReport): number {
  let last = Math.ceil(report.durationMs / 1000) - 1;
  for (const c of Object.values(report.clients)) {
    for (const r of c.timeline) {
      if (
        r.t > last &&
        (r.started + r.succeeded + r.failed + r.attempts > 0 || r.p99 !== null ||
          (r.circuit !== undefined && r.circuit !== "closed"))
      ) last = r.t;
    }
  }
  for (const s of Object.values(report.servers)) {
    for (const r of s.timeline) if (r.t > last && r.served + r.queued + r.busy > 0) last = r.t;
  }
  return last;
}

/**
 * Renders a report as a self-contained HTML page with four chart sections
 * (goodput and offered load, latency, amplification, circuit state over
 * time; the circuit section says "No client has a circuit breaker." and
 * has no chart when none has), a chart of server queues, and the summary
 * tables. The time charts run from 0 to the last second in which anything
 * happened (the drain included).
 *
 * @example
 * ```ts
 * import { latency, renderHtmlReport, Simulation } from "@bulwark/bulwark/sim";
 * import assert from "node:assert/strict";
 *
 * const sim = new Simulation({ seed: 1 });
 * const db = sim.server("db", { latency: latency.constant(5) });
 * const web = sim.client("web", { target: db });
 * sim.load(web, { kind: "constant", ratePerSecond: 20 });
 * const html = renderHtmlReport(await sim.run({ durationMs: 3_000 }), { title: "demo" });
 * assert.ok(html.startsWith("<!doctype html>"));
 * assert.equal(html.match(/<svg /g)?.length, 4); // no circuit chart: no client has a breaker
 * ```
 */
export function renderHtmlReport(
  report: SimulationReport,
  options: HtmlReportOptions = {},
): string {
  const title = options.title ?? "Bulwark simulation";
  const clients = Object.entries(report.clients);
  const markers = (options.markers ?? []).map((m) => ({ x: m.atMs / 1000, label: m.label }));
  const color = (i: number) => COLORS[i % COLORS.length];
  const time = "time (s)";
  const horizon = lastActiveSecond(report);
  const rows = <R extends { t: number }>(timeline: readonly R[]) =>
    timeline.filter((r) => r.t <= horizon);

  const goodput: ChartSeries[] = clients.flatMap(([name, c], i) => [
    {
      name: `${name}: succeeded/s`,
      color: color(i),
      points: rows(c.timeline).map((r) => [r.t, r.succeeded] as const),
    },
    {
      name: `${name}: offered/s`,
      color: color(i),
      dashed: true,
      points: rows(c.timeline).map((r) => [r.t, r.started] as const),
    },
  ]);
  const latency: ChartSeries[] = clients.map(([name, c], i) => ({
    name: `${name}: p99 (ms)`,
    color: color(i),
    points: rows(c.timeline).map((r) => [r.t, r.p99] as const),
  }));
  const amplification: ChartSeries[] = clients.map(([name, c], i) => ({
    name: `${name}: attempts/s (x${c.amplification.toFixed(2)} overall)`,
    color: color(i),
    points: rows(c.timeline).map((r) => [r.t, r.attempts] as const),
  }));
  const withCircuit = clients.filter(([, c]) => c.timeline.some((r) => r.circuit !== undefined));
  const circuit: ChartSeries[] = withCircuit.map(([name, c]) => ({
    name,
    color: color(clients.findIndex(([n]) => n === name)),
    step: true,
    points: rows(c.timeline).map((r) =>
      [r.t, CIRCUIT_STATES.indexOf(r.circuit ?? "closed")] as const
    ),
  }));
  const queues: ChartSeries[] = Object.entries(report.servers).map(([name, s], i) => ({
    name: `${name}: queued`,
    color: color(i),
    points: rows(s.timeline).map((r) => [r.t, r.queued] as const),
  }));

  const section = (id: string, heading: string, text: string, svg: string) =>
    `<section id="${id}"><h2>${escapeXml(heading)}</h2><p>${escapeXml(text)}</p>${svg}</section>`;
  const { clients: clientRows, servers: serverRows, pools: poolRows } = summaryRows(report);
  const body = [
    section(
      "goodput",
      "Goodput and offered load",
      "Calls that succeeded per second (solid) and calls started per second (dashed).",
      renderChart({
        title: "Goodput and offered load",
        xLabel: time,
        yLabel: "calls per second",
        series: goodput,
        markers,
      }),
    ),
    section(
      "latency",
      "Latency percentiles",
      "99th percentile of the latency of calls settled in each second (start to settle, retries and waits included).",
      renderChart({ title: "p99 latency", xLabel: time, yLabel: "ms", series: latency, markers }),
    ),
    section(
      "amplification",
      "Amplification",
      "Attempts sent per second; the legend gives attempts per call over the whole run.",
      renderChart({
        title: "Attempts per second",
        xLabel: time,
        yLabel: "attempts per second",
        series: amplification,
        markers,
      }),
    ),
    circuit.length === 0
      ? section("circuit", "Circuit state over time", "No client has a circuit breaker.", "")
      : section(
        "circuit",
        "Circuit state over time",
        "The state of each client's circuit breaker at the end of every second.",
        renderChart({
          title: "Circuit state",
          xLabel: time,
          yLabel: "state",
          yCategories: CIRCUIT_STATES,
          series: circuit,
          markers,
        }),
      ),
    section(
      "servers",
      "Server queues",
      "Requests waiting at each server at the end of every second.",
      renderChart({
        title: "Server queues",
        xLabel: time,
        yLabel: "requests queued",
        series: queues,
        markers,
      }),
    ),
    `<section id="summary"><h2>Summary</h2>${table(clientRows)}${table(serverRows)}${
      poolRows.length > 1 ? table(poolRows) : ""
    }<p>seed ${report.seed}, duration ${report.durationMs} ms, ended at ${report.endMs} ms${
      report.drained ? "" : " (not drained)"
    }</p></section>`,
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(title)}</title>
<style>
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 960px; }
table { border-collapse: collapse; margin: 12px 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
section { margin-bottom: 28px; }
</style></head>
<body><h1>${escapeXml(title)}</h1>${
    options.description === undefined ? "" : `<p>${escapeXml(options.description)}</p>`
  }
${body.join("\n")}
</body></html>
`;
}
