/**
 * The `fleet` option every shareable part takes (`CircuitBreaker`,
 * `FailureBudget`, `RetryBudget`, and `policy()` for all of them), its
 * check, and the handle a fleet-synced part exposes. Nothing here imports
 * Deno KV or Redis: the store is passed in as an object.
 *
 * @module
 */

import { randomInstanceId } from "../core/instance_id.ts";
import { MAX_TIMER_DELAY_MS } from "../core/clock.ts";
import {
  knownKeys,
  nameOption,
  numberAbove,
  objectValue,
  rangeError,
  typeError,
} from "../core/validate.ts";
import type { FleetStateStore } from "./store.ts";

/**
 * Shares a part's state across processes through `store`: parts of the same
 * kind and name on the same store share state (see docs/fleet.md).
 */
export interface FleetOptions {
  /** Where the state is shared: `kvStateStore()`, `redisStateStore()`, or your own {@link FleetStateStore}. */
  store: FleetStateStore;
  /**
   * How often the background sync runs; also how long a store call may take
   * before it counts as failed. A number > 0, at most 2**31 - 1.
   */
  syncIntervalMs: number;
  /** This instance's identity in the store. A non-empty string. Default a random UUID. */
  instanceId?: string;
  /**
   * How long a half-open probe lease lasts (circuits only), so a crashed
   * holder frees it. A number > 0, at most 2**31 - 1. Default: the policy's deadline,
   * else its attempt timeout, else the breaker's fixed `breakMs` (30,000
   * with a `breakMs` strategy).
   */
  leaseMs?: number;
}

/** The fleet handle of a part (`breaker.fleet`, `budget.fleet`, `policy.fleet`). */
export interface FleetHandle {
  /**
   * Runs a sync now: waits for this instance's circuit transitions still being
   * written, writes its counts, reads the fleet's; resolves when done. Never rejects.
   */
  sync(): Promise<void>;
  /**
   * Stops the background sync and waits for a running one and for
   * transitions being written. The store stays open (close it yourself).
   */
  close(): Promise<void>;
}

/**
 * The handle of a part that is not fleet-synced: `sync()` and `close()` do
 * nothing.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const local = new CircuitBreaker({ kind: "consecutive", threshold: 3 });
 * await local.fleet.sync(); // nothing to do
 * assert.equal(local.state, "closed");
 * ```
 */
export const NO_FLEET: FleetHandle = Object.freeze({
  sync: () => Promise.resolve(),
  close: () => Promise.resolve(),
});

const KEYS: readonly string[] = ["store", "syncIntervalMs", "instanceId", "leaseMs"];
const STORE_METHODS: readonly string[] = ["report", "transition", "lease", "close"];

/** A number > 0 that one runtime timer can wait (up to {@link MAX_TIMER_DELAY_MS}, about 24.8 days). */
function timerDelay(name: string, value: unknown): number {
  const ms = numberAbove(name, value, 0);
  if (ms > MAX_TIMER_DELAY_MS) rangeError(name, `a number > 0 and <= ${MAX_TIMER_DELAY_MS}`, ms);
  return ms;
}

/** Validated fleet options with defaults. */
export interface ResolvedFleetOptions {
  readonly store: FleetStateStore;
  readonly syncIntervalMs: number;
  readonly instanceId: string;
  readonly leaseMs: number | undefined;
}

/**
 * Validates the `fleet` option (path `fleet`); `undefined` when absent.
 * Errors name the field (`fleet.syncIntervalMs must be ...`).
 */
export function fleetOption(value: unknown): ResolvedFleetOptions | undefined {
  if (value === undefined) return undefined;
  const options = objectValue("fleet", value) as FleetOptions;
  knownKeys("fleet", options, KEYS, ["store"]); // a null store is a missing one: "is required"
  const store = options.store as unknown;
  if (store === undefined || store === null) throw new TypeError("fleet.store is required");
  if (
    typeof store !== "object" || store === null ||
    STORE_METHODS.some((m) => typeof (store as Record<string, unknown>)[m] !== "function")
  ) {
    typeError("fleet.store", "a FleetStateStore (report, transition, lease, close)", store);
  }
  const syncIntervalMs = timerDelay("fleet.syncIntervalMs", options.syncIntervalMs);
  const instanceId = options.instanceId === undefined
    ? randomInstanceId()
    : nameOption("fleet.instanceId", options.instanceId);
  const leaseMs = options.leaseMs === undefined
    ? undefined
    : timerDelay("fleet.leaseMs", options.leaseMs);
  return { store: store as FleetStateStore, syncIntervalMs, instanceId, leaseMs };
}
