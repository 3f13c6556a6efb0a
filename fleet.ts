/**
 * `@bulwark/bulwark/fleet`: circuit breakers, failure budgets and retry
 * budgets that share their state across processes through Deno KV or
 * Redis. Pass a store as the `fleet` option of `policy()` or of a part; see
 * docs/fleet.md. On Node, `kvStateStore` takes `kv`: the `Kv` of npm
 * `@deno/kv` (`await openKv("state.db")`).
 *
 * @example Two breakers sharing one circuit through a store
 * ```ts
 * import { CircuitBreaker } from "@bulwark/bulwark";
 * import { memoryStateStore } from "@bulwark/bulwark/fleet";
 * import { VirtualClock } from "@bulwark/bulwark/testing";
 * import assert from "node:assert/strict";
 *
 * const clock = new VirtualClock();
 * const fleet = { store: memoryStateStore(), syncIntervalMs: 1_000 };
 * const a = new CircuitBreaker({ name: "db", kind: "consecutive", threshold: 2, clock, fleet });
 * const b = new CircuitBreaker({ name: "db", kind: "consecutive", threshold: 2, clock, fleet });
 * a.recordFailure();
 * a.recordFailure();
 * await clock.advance(1_000); // b's background sync adopts a's transition
 * assert.equal(b.state, "open");
 * await Promise.all([a.fleet.close(), b.fleet.close(), fleet.store.close()]);
 * ```
 *
 * @module
 */

export type {
  FleetCircuitRecord,
  FleetPeer,
  FleetReport,
  FleetStateStore,
  FleetTransitionResult,
  FleetView,
} from "./src/fleet/store.ts";
export { type FleetHandle, type FleetOptions, NO_FLEET } from "./src/fleet/options.ts";
export { memoryStateStore } from "./src/fleet/memory_store.ts";
export { type KvStateStore, kvStateStore, type KvStateStoreOptions } from "./src/fleet/kv_store.ts";
export type {
  KvAtomic,
  KvCheck,
  KvCommitOutcome,
  KvCounter,
  KvEntryMaybe,
  KvKey,
  KvKeyPart,
  KvLike,
} from "./src/durable/kv.ts";
export {
  type RedisClientLike,
  redisStateStore,
  type RedisStateStoreOptions,
} from "./src/fleet/redis_store.ts";
