// Shared helpers of the fleet tests (not part of the package).
import { memoryStateStore } from "../../src/fleet/memory_store.ts";
import type { FleetStateStore } from "../../src/fleet/store.ts";

/** A store wrapper that counts writes and can be made to fail. */
export function faultyStore(inner: FleetStateStore = memoryStateStore()): FleetStateStore & {
  writes: number;
  failing: boolean;
  /** The store behind; replace it to simulate a store that lost its data. */
  inner: FleetStateStore;
} {
  const store = {
    writes: 0,
    failing: false,
    inner,
    report: (...args: Parameters<FleetStateStore["report"]>) => {
      if (store.failing) return Promise.reject(new Error("store down"));
      store.writes++;
      return store.inner.report(...args);
    },
    transition: (...args: Parameters<FleetStateStore["transition"]>) => {
      if (store.failing) return Promise.reject(new Error("store down"));
      store.writes++;
      return store.inner.transition(...args);
    },
    lease: (...args: Parameters<FleetStateStore["lease"]>) => {
      if (store.failing) return Promise.reject(new Error("store down"));
      store.writes++;
      return store.inner.lease(...args);
    },
    close: () => store.inner.close(),
  };
  return store;
}

/** Lets pending promise callbacks (store replies) run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/** Polls `condition` every few ms (real time) until it holds; throws after `timeoutMs`. */
export async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** {@link until} for a condition that is itself asynchronous. */
export async function untilAsync(
  condition: () => Promise<boolean>,
  timeoutMs = 5_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * A `Deno.Kv` whose writes (`set`, `atomic().commit()`) are counted and can
 * be made to throw, as a broken store would.
 */
export function countingKv(kv: Deno.Kv): { kv: Deno.Kv; writes: number; failing: boolean } {
  const state = { kv: undefined as unknown as Deno.Kv, writes: 0, failing: false };
  const fault = () => Promise.reject(new Error("kv commit failed"));
  state.kv = new Proxy(kv, {
    get(target, prop) {
      if (prop === "set") {
        return (...args: Parameters<Deno.Kv["set"]>) => {
          if (state.failing) return fault();
          state.writes++;
          return target.set(...args);
        };
      }
      if (prop === "atomic") {
        return () => {
          const op = target.atomic();
          const proxy: Deno.AtomicOperation = new Proxy(op, {
            get(t, p) {
              if (p === "commit") {
                return () => {
                  if (state.failing) return fault();
                  state.writes++;
                  return t.commit();
                };
              }
              const v = Reflect.get(t, p, t);
              return typeof v === "function"
                ? (...a: unknown[]) => {
                  const r = v.apply(t, a);
                  return r === t ? proxy : r; // keep chaining through the proxy
                }
                : v;
            },
          });
          return proxy;
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return state;
}
