// Shared helpers of the fleet tests (not part of the package).
import { memoryStateStore } from "../../src/fleet/memory_store.ts";
import type { FleetStateStore } from "../../src/fleet/store.ts";

/** A store wrapper that counts writes and can be made to fail. */
export function faultyStore(inner: FleetStateStore = memoryStateStore()): FleetStateStore & {
  writes: number;
  reads: number;
  failing: boolean;
} {
  const store = {
    writes: 0,
    reads: 0,
    failing: false,
    report: (...args: Parameters<FleetStateStore["report"]>) => {
      if (store.failing) return Promise.reject(new Error("store down"));
      store.writes++;
      return inner.report(...args);
    },
    transition: (...args: Parameters<FleetStateStore["transition"]>) => {
      if (store.failing) return Promise.reject(new Error("store down"));
      store.writes++;
      return inner.transition(...args);
    },
    lease: (...args: Parameters<FleetStateStore["lease"]>) => {
      if (store.failing) return Promise.reject(new Error("store down"));
      store.writes++;
      return inner.lease(...args);
    },
    close: () => inner.close(),
  };
  return store;
}

/** Lets pending promise callbacks (store replies) run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}
