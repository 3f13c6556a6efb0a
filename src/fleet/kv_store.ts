/**
 * A {@link FleetStateStore} on Deno KV: a local SQLite file shared by the
 * processes of one machine, or Deno Deploy's replicated KV.
 *
 * Keys, under `[prefix, key]`: `"state"` (the circuit record, written with
 * a versionstamp check), `"lease"` (probe leases of the open state, same),
 * and `"report", instanceId` (each instance's counts, one `set` per sync,
 * `expireIn` a few intervals; since `expireIn` is only a lower bound, a
 * write also deletes the reports older than its `ttlMs`).
 *
 * Values are JSON in UTF-8 bytes, not V8-serialized objects: KV stores
 * bytes as they are, so a store written by Deno is read on Node (npm
 * `@deno/kv`) and back, while V8-serialized objects are not (measured:
 * Deno 2.9's are refused by Node 20's `v8.deserialize`, and Node's typed
 * arrays are host objects Deno refuses).
 *
 * It has no `watch`: a `kv.watch` stream keeps the process alive until it
 * is cancelled, so a program that forgot `fleet.close()` would never exit.
 * Other instances adopt a transition at their next sync.
 *
 * @module
 */

import { systemClock } from "../core/clock.ts";
import { knownKeys, nameOption, objectValue, typeError } from "../core/validate.ts";
import { type KvKey, type KvLike, openDenoKv } from "../durable/kv.ts";
import type {
  FleetCircuitRecord,
  FleetPeer,
  FleetReport,
  FleetStateStore,
  FleetTransitionResult,
  FleetView,
} from "./store.ts";

/** Options of {@link kvStateStore}: one of `path` or `kv` (neither: `Deno.openKv()`, Deploy's KV). */
export interface KvStateStoreOptions {
  /**
   * A KV file path (or `":memory:"`), opened with `Deno.openKv` (Deno only); the store closes it
   * in `close()`.
   */
  path?: string;
  /**
   * An open KV the store uses and does not close: a `Deno.Kv`, or on Node the `Kv` of npm
   * `@deno/kv` (`await openKv("state.db")`).
   */
  kv?: KvLike;
  /** First key part of everything the store writes. Default `"bulwark"`. */
  prefix?: string;
}

/** A fleet state store on Deno KV, with the KV it uses. */
export interface KvStateStore extends FleetStateStore {
  /** The KV handle. */
  readonly kv: KvLike;
}

interface LeaseRecord {
  version: number;
  holders: Record<string, { n: number; expiresAt: number }>;
}

/** Attempts at an operation that failed with "database is locked" (two processes, one file). */
const LOCKED_ATTEMPTS = 20;
/** Attempts at a compare-and-set that lost to a concurrent writer of another key part. */
const CAS_ATTEMPTS = 10;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A value as stored: JSON in UTF-8 bytes (readable by every runtime's KV client). */
function pack(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** A stored value read back; anything but bytes is returned as is, for the shape checks. */
function unpack<T>(value: unknown): T | null {
  return value instanceof Uint8Array ? JSON.parse(decoder.decode(value)) as T : value as T | null;
}

/** Runs `op`, again after 1, 2, 3, ... ms while it fails with "database is locked". */
async function unlocked<T>(op: () => Promise<T>): Promise<T> {
  for (let i = 1;; i++) {
    try {
      return await op();
    } catch (error) {
      if (i >= LOCKED_ATTEMPTS || !/database is locked/i.test(String(error))) throw error;
      await systemClock.sleep(i);
    }
  }
}

/**
 * Opens a fleet state store on Deno KV (`path` needs `--unstable-kv` or
 * `"unstable": ["kv"]`). On Node, pass `kv`: the `Kv` of npm `@deno/kv`
 * (`await openKv("state.db")`), which the store does not close.
 *
 * @example Two breakers in one process sharing a circuit through a KV file
 * ```ts
 * import { CircuitBreaker } from "@bulwark/bulwark";
 * import { kvStateStore } from "@bulwark/bulwark/fleet";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const store = await kvStateStore({ path: `${dir}/state.db` });
 * const fleet = { store, syncIntervalMs: 1_000 };
 * const a = new CircuitBreaker({ name: "db", kind: "consecutive", threshold: 1, fleet });
 * const b = new CircuitBreaker({ name: "db", kind: "consecutive", threshold: 1, fleet });
 * a.recordFailure(); // opens a and writes the transition
 * await a.fleet.sync();
 * await b.fleet.sync(); // b reads it
 * assert.equal(b.state, "open");
 * await Promise.all([a.fleet.close(), b.fleet.close()]);
 * await store.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function kvStateStore(options: KvStateStoreOptions = {}): Promise<KvStateStore> {
  objectValue("options", options);
  knownKeys("", options, ["path", "kv", "prefix"]);
  if (options.path !== undefined && options.kv !== undefined) {
    typeError("kv", "left out when path is given (pass one of them)", "a Deno.Kv");
  }
  if (options.path !== undefined) nameOption("path", options.path);
  if (options.kv !== undefined) objectValue("kv", options.kv);
  const prefix = nameOption("prefix", options.prefix, "bulwark");
  const owned = options.kv === undefined;
  const kv = options.kv ?? await openDenoKv(options.path);

  const stateKey = (key: string) => [prefix, key, "state"];
  const leaseKey = (key: string) => [prefix, key, "lease"];

  return {
    kv,
    async report(key, instanceId, report, ttlMs): Promise<FleetView> {
      await unlocked(() =>
        kv.set([prefix, key, "report", instanceId], pack(report), { expireIn: ttlMs })
      );
      const state = unpack<FleetCircuitRecord>((await kv.get(stateKey(key))).value);
      const peers: FleetPeer[] = [];
      const gone: KvKey[] = [];
      const oldest = report.at - ttlMs;
      for await (const entry of kv.list({ prefix: [prefix, key, "report"] })) {
        const peer = unpack<FleetReport>(entry.value);
        // expireIn is only a lower bound: remove what an instance that is gone left behind.
        const at = (peer as Partial<FleetReport> | null)?.at;
        if (typeof at !== "number" || at < oldest) gone.push(entry.key);
        else peers.push({ instanceId: String(entry.key[3]), report: peer! });
      }
      for (const stale of gone) await unlocked(() => kv.delete(stale));
      return { state, peers };
    },
    async transition(key, expected, next): Promise<FleetTransitionResult> {
      for (let i = 0; i < CAS_ATTEMPTS; i++) {
        const current = await kv.get(stateKey(key));
        const record = unpack<FleetCircuitRecord>(current.value);
        if ((record?.version ?? 0) !== expected) return { won: false, record };
        const result = await unlocked(() =>
          kv.atomic().check(current).set(stateKey(key), pack(next)).commit()
        );
        if (result.ok) return { won: true, record: next };
      }
      const current = await unlocked(() => kv.get(stateKey(key)));
      return { won: false, record: unpack<FleetCircuitRecord>(current.value) };
    },
    async lease(key, instanceId, { version, want, max, now, ttlMs }): Promise<number> {
      for (let i = 0; i < CAS_ATTEMPTS; i++) {
        const [state, lease] = await unlocked(() =>
          kv.getMany<[unknown, unknown]>([stateKey(key), leaseKey(key)])
        );
        if ((unpack<FleetCircuitRecord>(state.value)?.version ?? 0) !== version) return 0;
        const held = unpack<LeaseRecord>(lease.value);
        const holders = held?.version === version ? { ...held.holders } : {};
        let used = 0;
        for (const [id, claim] of Object.entries(holders)) {
          if (claim.expiresAt <= now) delete holders[id];
          else if (id !== instanceId) used += claim.n;
        }
        // A holder asking again has its lease renewed.
        const n = holders[instanceId]?.n ?? Math.min(want, max - used);
        if (n <= 0) return 0;
        holders[instanceId] = { n, expiresAt: now + ttlMs };
        const result = await unlocked(() =>
          kv.atomic().check(state, lease).set(leaseKey(key), pack({ version, holders })).commit()
        );
        if (result.ok) return n;
      }
      return 0;
    },
    async close(): Promise<void> {
      await Promise.resolve();
      if (owned) kv.close();
    },
  };
}
