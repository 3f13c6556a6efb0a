/**
 * The summary table of a simulation report, as text (the `simulate`
 * task prints it) and as rows (the HTML report renders them).
 *
 * @module
 */

import type { SimulationReport } from "./simulation.ts";

const ms = (v: number | null): string => v === null ? "-" : v.toFixed(1);

/** Internal: the summary tables as rows of cells, header first. */
export function summaryRows(report: SimulationReport): {
  clients: string[][];
  servers: string[][];
  pools: string[][];
} {
  const clients = [[
    "client",
    "calls",
    "succeeded",
    "failed",
    "attempts",
    "ampl.",
    "timeouts",
    "p50 ms",
    "p99 ms",
  ]];
  for (const [name, c] of Object.entries(report.clients)) {
    const s = c.stats;
    clients.push([
      name,
      String(s.requests),
      String(s.succeeded),
      String(s.failed),
      String(s.requestsSent),
      c.amplification.toFixed(2),
      String(s.timeouts),
      ms(c.latency.p50),
      ms(c.latency.p99),
    ]);
  }
  const servers = [[
    "server",
    "received",
    "served",
    "errors",
    "conflicts",
    "rejected",
    "dropped",
    "max queued",
  ]];
  for (const [name, s] of Object.entries(report.servers)) {
    servers.push([
      name,
      String(s.received),
      String(s.served),
      String(s.errors),
      String(s.conflicts),
      String(s.rejected),
      String(s.dropped),
      String(s.maxQueued),
    ]);
  }
  const pools = [["pool", "created", "closed", "acquired", "released", "timeouts", "wait ms"]];
  for (const [name, p] of Object.entries(report.pools)) {
    pools.push([
      name,
      String(p.connectionsCreated),
      String(p.connectionsClosed),
      String(p.acquisitions),
      String(p.releases),
      String(p.timeouts),
      p.totalWaitTimeMs.toFixed(1),
    ]);
  }
  return { clients, servers, pools };
}

function textTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) =>
    r.map((cell, i) => i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])).join("  ")
  ).join("\n");
}

/**
 * The report's summary as plain-text tables: clients, servers, and pools
 * when there are any.
 *
 * @example
 * ```ts
 * import { formatSummary, latency, Simulation } from "@bulwark/bulwark/sim";
 * import assert from "node:assert/strict";
 *
 * const sim = new Simulation();
 * const db = sim.server("db", { latency: latency.constant(5) });
 * sim.load(sim.client("web", { target: db }), { kind: "constant", ratePerSecond: 10 });
 * const text = formatSummary(await sim.run({ durationMs: 1_000 }));
 * assert.match(text, /^client +calls +succeeded/);
 * assert.match(text, /\nweb +10 +10 +0 +10 +1\.00 /);
 * ```
 */
export function formatSummary(report: SimulationReport): string {
  const { clients, servers, pools } = summaryRows(report);
  const parts = [textTable(clients), textTable(servers)];
  if (pools.length > 1) parts.push(textTable(pools));
  return parts.join("\n\n") + "\n";
}
