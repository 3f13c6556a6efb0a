/**
 * Scenario files: a whole simulation as JSON, validated with every problem
 * reported at its JSON path, then built and run.
 *
 * @module
 */

import { PolicyDeclarationError } from "../policy/policy_declaration.ts";
import type { DeclarationIssue } from "../policy/schema_node.ts";
import { latencyFromJSON, type LatencyJSON } from "./latency.ts";
import type { LoadOptions } from "./load.ts";
import { SCENARIO_SCHEMA, validateSimNode } from "./scenario_schema.ts";
import type { ServerChange } from "./server.ts";
import {
  type RunOptions,
  Simulation,
  type SimulationProgress,
  type SimulationReport,
} from "./simulation.ts";
import type { SimPool } from "./pool.ts";
import type { SimServer } from "./server.ts";

/** A scenario file's content (see `schema/scenario.schema.json`). */
export interface Scenario {
  /** The JSON Schema of the file (ignored). */
  $schema?: string;
  /** What the scenario shows (ignored). */
  description?: string;
  /** Seed. Default 1. */
  seed?: number;
  /** Loads stop starting calls at this time (ms). */
  durationMs: number;
  /** See {@link RunOptions.drainMs}. */
  drainMs?: number;
  /** Servers by name. */
  servers: Record<string, {
    latency: LatencyJSON;
    concurrency?: number;
    queue?: number;
    rejectStatus?: number;
    errorRate?: number;
    errorStatus?: number;
    cancelOnClientTimeout?: boolean;
    contention?: "none" | "occ";
    conflictStatus?: number;
    networkLatency?: LatencyJSON;
  }>;
  /** Pools by name. */
  pools?: Record<string, {
    target: string;
    minConnections?: number;
    maxConnections?: number;
    connectionTimeoutMs?: number;
    idleTimeoutMs?: number;
    connectionLatency?: LatencyJSON;
  }>;
  /** Clients by name; `policy` is a declaration as `policyFromJSON` accepts. */
  clients: Record<string, { target: string; timeoutMs?: number; policy?: Record<string, unknown> }>;
  /** Loads, each naming its client. */
  loads: (LoadOptions & { client: string })[];
  /** Server changes, each naming its server. */
  changes?: (ServerChange & { server: string; atMs: number })[];
}

/**
 * A scenario was invalid. `issues` lists every problem with its JSON path;
 * `message` lists them all, one per line.
 *
 * @example
 * ```ts
 * import { runScenario, ScenarioError } from "@bulwark/bulwark/sim";
 * import assert from "node:assert/strict";
 *
 * await assert.rejects(
 *   runScenario({ durationMs: 1000, servers: {}, clients: { web: { target: "db" } }, loads: [] }),
 *   (e) => e instanceof ScenarioError && e.issues[0].path === "clients.web.target",
 * );
 * ```
 */
export class ScenarioError extends TypeError {
  /** Every problem found. */
  readonly issues: readonly DeclarationIssue[];

  /** Creates the error from its issues. */
  constructor(issues: readonly DeclarationIssue[]) {
    super(
      `invalid scenario (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n${
        issues.map((i) => `  - ${i.message}`).join("\n")
      }`,
    );
    this.name = "ScenarioError";
    this.issues = issues;
  }
}

/** Options of {@link runScenario} and {@link buildScenario}. */
export interface ScenarioOptions {
  /** Called after every simulated second. */
  onProgress?: (progress: SimulationProgress) => void;
  /**
   * Replaces the scenario's `durationMs` (a short run, e.g. in CI): loads
   * start no call at or after it. A change scheduled later still applies if
   * calls are still draining at its time; it does not keep the run going.
   */
  durationMs?: number;
}

/** Runs `build`, turning an option error into an issue at `path`. */
function at<T>(path: string, issues: DeclarationIssue[], build: () => T): T | undefined {
  try {
    return build();
  } catch (error) {
    if (error instanceof PolicyDeclarationError) {
      // The client names its fields from `policy` down.
      for (const issue of error.issues) {
        issues.push({ path: `${path}.${issue.path}`, message: `${path}.${issue.message}` });
      }
      return undefined;
    }
    if (!(error instanceof RangeError || error instanceof TypeError)) throw error;
    const field = error.message.split(" ")[0];
    issues.push({ path: `${path}.${field}`, message: `${path}.${error.message}` });
    return undefined;
  }
}

/**
 * Validates a scenario (an object, or JSON text) and builds its
 * {@link Simulation} without running it. Throws {@link ScenarioError}
 * listing every problem with its JSON path: unknown keys, bad values,
 * unknown targets, clients and servers, invalid policies.
 *
 * @example
 * ```ts
 * import { buildScenario } from "@bulwark/bulwark/sim";
 * import assert from "node:assert/strict";
 *
 * const { simulation, durationMs } = buildScenario({
 *   durationMs: 2_000,
 *   servers: { db: { latency: { kind: "constant", ms: 5 } } },
 *   clients: { web: { target: "db" } },
 *   loads: [{ kind: "constant", client: "web", ratePerSecond: 10 }],
 * });
 * const report = await simulation.run({ durationMs });
 * assert.equal(report.clients.web.stats.succeeded, 20);
 * ```
 */
export function buildScenario(
  json: unknown,
): { simulation: Simulation; durationMs: number; drainMs: number | undefined } {
  let scenario = json;
  if (typeof json === "string") {
    try {
      scenario = JSON.parse(json);
    } catch (error) {
      throw new ScenarioError([{
        path: "",
        message: `scenario is not valid JSON: ${(error as Error).message}`,
      }]);
    }
  }
  const issues: DeclarationIssue[] = [];
  validateSimNode(SCENARIO_SCHEMA, scenario, "", issues);
  if (issues.length > 0) throw new ScenarioError(issues);
  const s = scenario as Scenario;

  const simulation = new Simulation({ seed: s.seed ?? 1 });
  const servers = new Map<string, SimServer>();
  for (const [name, o] of Object.entries(s.servers)) {
    const path = `servers.${name}`;
    const latency = at(`${path}.latency`, issues, () => latencyFromJSON(o.latency));
    const networkLatency = o.networkLatency === undefined
      ? undefined
      : at(`${path}.networkLatency`, issues, () => latencyFromJSON(o.networkLatency!));
    if (latency === undefined || (o.networkLatency !== undefined && networkLatency === undefined)) {
      continue;
    }
    const { networkLatency: _, ...rest } = o;
    const server = at(
      path,
      issues,
      () =>
        simulation.server(name, {
          ...rest,
          latency,
          ...(networkLatency === undefined ? {} : { networkLatency }),
        }),
    );
    if (server !== undefined) servers.set(name, server);
  }
  const pools = new Map<string, SimPool>();
  for (const [name, o] of Object.entries(s.pools ?? {})) {
    const path = `pools.${name}`;
    if (Object.hasOwn(s.servers, name)) {
      issues.push({ path, message: `${path}: a pool may not share its name with a server` });
      continue;
    }
    const target = servers.get(o.target);
    if (target === undefined) {
      if (!Object.hasOwn(s.servers, o.target)) {
        issues.push({
          path: `${path}.target`,
          message: `${path}.target must name a server: received ${JSON.stringify(o.target)}`,
        });
      }
      continue;
    }
    const connectionLatency = o.connectionLatency === undefined
      ? undefined
      : at(`${path}.connectionLatency`, issues, () => latencyFromJSON(o.connectionLatency!));
    const { connectionLatency: _, ...rest } = o;
    const pool = at(path, issues, () =>
      simulation.pool(name, {
        ...rest,
        target,
        ...(connectionLatency === undefined ? {} : { connectionLatency }),
      }));
    if (pool !== undefined) pools.set(name, pool);
  }
  const clients = new Map<string, ReturnType<Simulation["client"]>>();
  for (const [name, o] of Object.entries(s.clients)) {
    const path = `clients.${name}`;
    const target = pools.get(o.target) ?? servers.get(o.target);
    if (target === undefined) {
      const known = Object.hasOwn(s.servers, o.target) || Object.hasOwn(s.pools ?? {}, o.target);
      if (!known) {
        issues.push({
          path: `${path}.target`,
          message: `${path}.target must name a server or a pool: received ${
            JSON.stringify(o.target)
          }`,
        });
      }
      continue;
    }
    const client = at(path, issues, () => simulation.client(name, { ...o, target }));
    if (client !== undefined) clients.set(name, client);
  }
  s.loads.forEach((load, i) => {
    const path = `loads[${i}]`;
    const { client: clientName, ...options } = load;
    const client = clients.get(clientName);
    if (client === undefined) {
      if (!Object.hasOwn(s.clients, clientName)) {
        issues.push({
          path: `${path}.client`,
          message: `${path}.client must name a client: received ${JSON.stringify(clientName)}`,
        });
      }
      return;
    }
    at(path, issues, () => simulation.load(client, options as LoadOptions));
  });
  (s.changes ?? []).forEach((change, i) => {
    const path = `changes[${i}]`;
    const { server: serverName, atMs, ...options } = change;
    const server = servers.get(serverName);
    if (server === undefined) {
      if (!Object.hasOwn(s.servers, serverName)) {
        issues.push({
          path: `${path}.server`,
          message: `${path}.server must name a server: received ${JSON.stringify(serverName)}`,
        });
      }
      return;
    }
    at(path, issues, () => server.at(atMs, options));
  });
  if (issues.length > 0) throw new ScenarioError(issues);
  return { simulation, durationMs: s.durationMs, drainMs: s.drainMs };
}

/**
 * Validates, builds and runs a scenario (an object, or JSON text); returns
 * the report. Same scenario and seed, same report (byte for byte through
 * `JSON.stringify`).
 *
 * @example
 * ```ts
 * import { runScenario } from "@bulwark/bulwark/sim";
 * import assert from "node:assert/strict";
 *
 * const report = await runScenario({
 *   seed: 3,
 *   durationMs: 5_000,
 *   servers: { db: { latency: { kind: "lognormal", medianMs: 20, p99Ms: 200 }, concurrency: 8 } },
 *   clients: { web: { target: "db", timeoutMs: 300, policy: { retry: { maxAttempts: 2 } } } },
 *   loads: [{ kind: "poisson", client: "web", ratePerSecond: 100 }],
 * });
 * const { requests, succeeded, failed } = report.clients.web.stats;
 * assert.equal(requests, succeeded + failed);
 * ```
 */
export async function runScenario(
  json: unknown,
  options: ScenarioOptions = {},
): Promise<SimulationReport> {
  const { simulation, durationMs, drainMs } = buildScenario(json);
  const run: RunOptions = { durationMs: options.durationMs ?? durationMs };
  if (drainMs !== undefined) run.drainMs = drainMs;
  if (options.onProgress !== undefined) run.onProgress = options.onProgress;
  return await simulation.run(run);
}
