// A child process of tests/fleet/real_faults_test.ts: a program that uses a fleet policy and
// then ends, without calling `fleet.close()`. argv: mode, where.
// - "kv" <path>: a KV-file store, closes nothing; the process must exit on its own.
// - "redis" <url>: a Redis store (it holds a connection), closes the store only.
// - "garbage-report" / "garbage-transition": a store answering malformed data (report() null,
//   transition() undefined); the process must survive its background syncs.
// Prints "done <calls that succeeded>" at the end.
import { policy } from "../../mod.ts";
import {
  type FleetStateStore,
  kvStateStore,
  memoryStateStore,
  redisStateStore,
} from "../../fleet.ts";

const [mode, where] = Deno.args;
const inner = memoryStateStore();
const store: FleetStateStore = mode === "kv"
  ? await kvStateStore({ path: where })
  : mode === "redis"
  ? await redisStateStore({ url: where })
  : mode === "garbage-report"
  ? { ...inner, report: () => Promise.resolve(null as never) }
  : { ...inner, transition: () => Promise.resolve(undefined as never) };
const p = policy("pay", {
  telemetry: false,
  circuit: { kind: "consecutive", threshold: 2, breakMs: 50 },
  failureBudget: { threshold: 0.5, windowMs: 1_000, minSamples: 10 },
  retry: { maxAttempts: 1, retryBudget: { ratio: 0.1 } },
  fleet: { store, syncIntervalMs: 20 },
});
let ok = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
for (let i = 0; i < 5; i++) ok += await p.execute(() => 1);
for (let i = 0; i < 2; i++) await p.execute(() => Promise.reject(new Error("x"))).catch(() => {});
await sleep(100); // a few syncs; the circuit is open, then its break elapses
await p.execute(() => 1).then(() => ok++, () => {}); // asks for a lease
await sleep(100);
if (mode === "redis") await store.close();
console.log(`done ${ok}`);
