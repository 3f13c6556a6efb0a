/**
 * Shape checks of what a fleet state store answers. A store is
 * outside the library's control (a user's store, a Redis shared with other
 * programs, an older version's records), so a fleet member checks every
 * answer before using it: anything malformed is a failed sync
 * (`fleet_sync_failed`), never a crash or a jammed circuit.
 *
 * @module
 */

import type { FleetCircuitRecord, FleetTransitionResult, FleetView } from "./store.ts";

const STATES: ReadonlySet<unknown> = new Set(["closed", "open", "isolated"]);

/** A store's answer that is not of the documented shape. */
export class MalformedStoreDataError extends TypeError {
  /**
   * @example
   * ```ts
   * import { MalformedStoreDataError } from "./check.ts";
   * import assert from "node:assert/strict";
   *
   * const error = new MalformedStoreDataError("report", null);
   * assert.equal(error.message, "store.report() answered malformed data: null");
   * ```
   */
  constructor(operation: string, value: unknown) {
    let shown: string;
    try {
      shown = JSON.stringify(value)?.slice(0, 200) ?? String(value);
    } catch {
      shown = String(value);
    }
    super(`store.${operation}() answered malformed data: ${shown}`);
    this.name = "MalformedStoreDataError";
  }
}

const isCount = (n: unknown): n is number => typeof n === "number" && n >= 0 && n < Infinity;

/** Whether `value` is a stored circuit record (or null: never written). */
function isRecord(value: unknown): value is FleetCircuitRecord | null {
  if (value === null) return true;
  if (typeof value !== "object") return false;
  const r = value as Record<string, unknown>;
  return Number.isInteger(r.version) && (r.version as number) >= 0 && STATES.has(r.state) &&
    typeof r.openedAt === "number" && r.openedAt === r.openedAt &&
    typeof r.breakMs === "number" && isCount(r.opens);
}

/**
 * Checks the view `store.report()` answered: a record or null, and peers
 * whose reports carry `seq`, `version`, `at` and an array of counts.
 * Throws {@link MalformedStoreDataError}.
 *
 * @example
 * ```ts
 * import { checkView } from "./check.ts";
 * import assert from "node:assert/strict";
 *
 * const view = { state: null, peers: [{ instanceId: "a", report: { seq: 1, version: 0, at: 0, counts: [1, 0, 0] } }] };
 * assert.equal(checkView(view), view);
 * assert.throws(() => checkView(null), TypeError);
 * ```
 */
export function checkView(value: unknown): FleetView {
  const view = value as FleetView | null;
  if (
    typeof view !== "object" || view === null || !isRecord(view.state) ||
    !Array.isArray(view.peers)
  ) throw new MalformedStoreDataError("report", value);
  for (const peer of view.peers as unknown[]) {
    const p = peer as { instanceId?: unknown; report?: Record<string, unknown> } | null;
    const report = p?.report;
    if (
      typeof p?.instanceId !== "string" || typeof report !== "object" || report === null ||
      !isCount(report.seq) || !isCount(report.version) || typeof report.at !== "number" ||
      !Array.isArray(report.counts)
    ) throw new MalformedStoreDataError("report", value);
  }
  return view;
}

/**
 * Checks what `store.transition()` answered. Throws
 * {@link MalformedStoreDataError}.
 *
 * @example
 * ```ts
 * import { checkTransition } from "./check.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(checkTransition({ won: false, record: null }), { won: false, record: null });
 * assert.throws(() => checkTransition(undefined), TypeError);
 * ```
 */
export function checkTransition(value: unknown): FleetTransitionResult {
  const result = value as FleetTransitionResult | null;
  if (
    typeof result !== "object" || result === null || typeof result.won !== "boolean" ||
    !isRecord(result.record) || (result.won && result.record === null)
  ) throw new MalformedStoreDataError("transition", value);
  return result;
}

/**
 * Checks what `store.lease()` answered: a whole number of leases. Throws
 * {@link MalformedStoreDataError}.
 *
 * @example
 * ```ts
 * import { checkLease } from "./check.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(checkLease(1), 1);
 * assert.throws(() => checkLease("1"), TypeError);
 * ```
 */
export function checkLease(value: unknown): number {
  if (!Number.isInteger(value) || (value as number) < 0) {
    throw new MalformedStoreDataError("lease", value);
  }
  return value as number;
}
