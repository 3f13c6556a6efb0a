/**
 * An in-memory {@link FleetStateStore}: the parts of one process (or one
 * test) sharing state without a server. Useful in tests and simulations,
 * and as the reference for writing a store over another database.
 *
 * @module
 */

import type {
  FleetCircuitRecord,
  FleetPeer,
  FleetReport,
  FleetStateStore,
  FleetTransitionResult,
  FleetView,
} from "./store.ts";

interface Lease {
  n: number;
  expiresAt: number;
}

/**
 * Creates an in-memory store. Every method resolves on a later microtask, as
 * a real store would.
 *
 * @example Two breakers sharing one circuit in one process
 * ```ts
 * import { CircuitBreaker } from "@bulwark/bulwark";
 * import { memoryStateStore } from "@bulwark/bulwark/fleet";
 * import { VirtualClock } from "@bulwark/bulwark/testing";
 * import assert from "node:assert/strict";
 *
 * const clock = new VirtualClock();
 * const store = memoryStateStore();
 * const fleet = { store, syncIntervalMs: 1_000 };
 * const a = new CircuitBreaker({ kind: "consecutive", threshold: 2, clock, fleet });
 * const b = new CircuitBreaker({ kind: "consecutive", threshold: 2, clock, fleet });
 * a.recordFailure();
 * a.recordFailure(); // a opens and writes the transition
 * await b.fleet.sync(); // b adopts it
 * assert.equal(b.state, "open");
 * await a.fleet.close();
 * await b.fleet.close();
 * ```
 */
export function memoryStateStore(): FleetStateStore {
  const states = new Map<string, FleetCircuitRecord>();
  const reports = new Map<string, Map<string, FleetReport>>();
  const leases = new Map<string, { version: number; holders: Map<string, Lease> }>();
  return {
    async report(key, instanceId, report, ttlMs): Promise<FleetView> {
      await Promise.resolve();
      let map = reports.get(key);
      if (map === undefined) reports.set(key, map = new Map());
      map.set(instanceId, structuredClone(report));
      const peers: FleetPeer[] = [];
      for (const [id, r] of map) {
        if (r.at < report.at - ttlMs) map.delete(id); // an instance that is gone
        else peers.push({ instanceId: id, report: structuredClone(r) });
      }
      return { state: structuredClone(states.get(key) ?? null), peers };
    },
    async transition(key, expected, next): Promise<FleetTransitionResult> {
      await Promise.resolve();
      const current = states.get(key) ?? null;
      if ((current?.version ?? 0) !== expected) {
        return { won: false, record: structuredClone(current) };
      }
      states.set(key, structuredClone(next));
      return { won: true, record: structuredClone(next) };
    },
    async lease(key, instanceId, { version, want, max, now, ttlMs }): Promise<number> {
      await Promise.resolve();
      if ((states.get(key)?.version ?? 0) !== version) return 0;
      let entry = leases.get(key);
      if (entry === undefined || entry.version !== version) {
        leases.set(key, entry = { version, holders: new Map() });
      }
      let used = 0;
      for (const [id, lease] of entry.holders) {
        if (lease.expiresAt <= now) entry.holders.delete(id);
        else if (id === instanceId) {
          lease.expiresAt = now + ttlMs; // asked again: renewed
          return lease.n;
        } else used += lease.n;
      }
      const n = Math.min(want, max - used);
      if (n <= 0) return 0;
      entry.holders.set(instanceId, { n, expiresAt: now + ttlMs });
      return n;
    },
    async close(): Promise<void> {
      await Promise.resolve();
    },
  };
}
