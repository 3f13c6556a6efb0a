/**
 * The fleet state store: the one interface `kvStateStore` and
 * `redisStateStore` implement (and a user can implement over another
 * store). Nothing here imports Deno KV or Redis.
 *
 * @module
 */

/** A circuit's fleet-wide state as stored (half-open is local: an open circuit whose probes are leased). */
export interface FleetCircuitRecord {
  /** Increases by one at every transition written; 0 means "never written" (closed). */
  version: number;
  /** The fleet-wide state. */
  state: "closed" | "open" | "isolated";
  /** When the circuit opened, in the writer's clock (epoch ms on `systemClock`). */
  openedAt: number;
  /** The break of that opening. */
  breakMs: number;
  /** Consecutive openings. */
  opens: number;
  /** The instance that wrote it (absent in records written by hand or by older versions). */
  by?: string;
}

/** What one instance writes for one part at every sync. */
export interface FleetReport {
  /** Increases at every write, so readers can tell a live instance from one that stopped writing. */
  seq: number;
  /**
   * When it was written, in the writer's clock (epoch ms on `systemClock`):
   * readers ignore reports older than 3 sync intervals, and stores may
   * remove reports older than the `ttlMs` of a newer write.
   */
  at: number;
  /** The circuit version the counts were taken under (always 0 for budgets). */
  version: number;
  /**
   * The part's counts in its current window: a circuit `[calls, failures,
   * slowCalls]`, a failure budget `[samples, failures]`, a retry budget
   * `[requests, retries]`.
   */
  counts: number[];
}

/** One instance's last report, as read back. */
export interface FleetPeer {
  /** The instance that wrote it. */
  instanceId: string;
  /** Its report. */
  report: FleetReport;
}

/** What a sync reads back: the stored circuit state (circuits only) and every instance's report. */
export interface FleetView {
  /** The stored circuit state, or null when none was ever written. */
  state: FleetCircuitRecord | null;
  /** The reports of every instance (this one included). */
  peers: FleetPeer[];
}

/** Result of {@link FleetStateStore.transition}. */
export interface FleetTransitionResult {
  /** True when `next` was written; false when the stored version was not the expected one. */
  won: boolean;
  /** The stored state after the attempt (`next` when won). */
  record: FleetCircuitRecord | null;
}

/**
 * Where fleet members keep shared state. Keys are opaque strings (`part
 * kind:name`); every method may reject (a fleet member reports it as
 * `fleet_sync_failed` and carries on with local state).
 *
 * @example A store kept in memory (one process; for tests and as a template)
 * ```ts
 * import { systemClock } from "@bulwark/bulwark";
 * import { memoryStateStore } from "@bulwark/bulwark/fleet";
 * import assert from "node:assert/strict";
 *
 * const store = memoryStateStore();
 * // `at`: the writer's time, epoch milliseconds (the system clock's).
 * const report = { seq: 1, version: 0, at: systemClock.now(), counts: [3, 1, 0] };
 * const view = await store.report("circuit:db", "a", report, 3_000);
 * assert.deepEqual(view.peers.map((p) => p.instanceId), ["a"]);
 * const next = { version: 1, state: "open" as const, openedAt: 0, breakMs: 1_000, opens: 1 };
 * assert.equal((await store.transition("circuit:db", 0, next)).won, true);
 * assert.equal((await store.transition("circuit:db", 0, next)).won, false);
 * await store.close();
 * ```
 */
export interface FleetStateStore {
  /**
   * Writes `instanceId`'s report for `key` (one write, kept at least
   * `ttlMs`) and reads back the stored circuit state and every report.
   * Reports whose `at` is more than `ttlMs` before `report.at` belong to
   * instances that are gone: the store removes them (or leaves them out).
   */
  report(key: string, instanceId: string, report: FleetReport, ttlMs: number): Promise<FleetView>;
  /**
   * Compare-and-set of the circuit state: writes `next` only if the stored
   * version is `expected` (0 when none is stored).
   */
  transition(
    key: string,
    expected: number,
    next: FleetCircuitRecord,
  ): Promise<FleetTransitionResult>;
  /**
   * Claims up to `want` of the `max` half-open probe leases of the open
   * state `version` (none if the stored version differs), expiring at `now
   * + ttlMs` (writer's clock). Leases of expired holders are freed; a
   * holder asking again has its lease renewed to `now + ttlMs`. Resolves
   * with the leases `instanceId` holds (0 when none was free).
   */
  lease(
    key: string,
    instanceId: string,
    lease: { version: number; want: number; max: number; now: number; ttlMs: number },
  ): Promise<number>;
  /**
   * Optional: calls `onChange` soon after the circuit state of `key`
   * changes (Deno KV `watch`, Redis pub/sub). Returns a function that stops
   * watching.
   */
  watch?(key: string, onChange: () => void): () => void;
  /** Releases what the store opened (a KV handle, a Redis connection it made). */
  close(): Promise<void>;
}
