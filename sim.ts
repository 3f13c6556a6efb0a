/**
 * Deterministic simulation of clients, connection pools and servers in
 * virtual time, running the real policies: what does a policy do to a
 * struggling dependency before it goes to production? Build a
 * {@link Simulation} in code, or load a scenario file with
 * {@link runScenario} (or `deno task simulate FILE`).
 *
 * @example
 * ```ts
 * import { latency, Simulation } from "@bulwark/bulwark/sim";
 * import assert from "node:assert/strict";
 *
 * const sim = new Simulation({ seed: 7 });
 * const db = sim.server("db", { latency: latency.exponential(10), concurrency: 1 });
 * const web = sim.client("web", { target: db, policy: { retry: { maxAttempts: 1 } } });
 * sim.load(web, { kind: "poisson", ratePerSecond: 50, toMs: 10_000 });
 * const report = await sim.run({ durationMs: 10_000 });
 * assert.equal(report.servers.db.received, report.clients.web.stats.requestsSent);
 * ```
 *
 * @module
 */

export { Simulation } from "./src/sim/simulation.ts";
export type {
  RunOptions,
  SimulationOptions,
  SimulationProgress,
  SimulationReport,
} from "./src/sim/simulation.ts";
export { latency, latencyFromJSON } from "./src/sim/latency.ts";
export type { LatencyDistribution, LatencyJSON, MixturePart } from "./src/sim/latency.ts";
export { SimServer } from "./src/sim/server.ts";
export type {
  Respond,
  ServerChange,
  ServerOptions,
  ServerReport,
  ServerTimelineRow,
} from "./src/sim/server.ts";
export { SimConnection, SimPool } from "./src/sim/pool.ts";
export type { PoolOptions, PoolReport } from "./src/sim/pool.ts";
export { ServerStatusError, SimClient } from "./src/sim/client.ts";
export type {
  ClientOptions,
  ClientReport,
  ClientStats,
  ClientTimelineRow,
  LatencyPercentiles,
} from "./src/sim/client.ts";
export type { BurstLoad, ConstantLoad, LoadOptions, PoissonLoad } from "./src/sim/load.ts";
export { buildScenario, runScenario, ScenarioError } from "./src/sim/scenario.ts";
export type { Scenario, ScenarioOptions } from "./src/sim/scenario.ts";
export { scenarioJsonSchema } from "./src/sim/scenario_schema.ts";
export { renderHtmlReport } from "./src/sim/html_report.ts";
export type { HtmlReportOptions } from "./src/sim/html_report.ts";
export { formatSummary } from "./src/sim/summary.ts";
