// A child process of the fleet process tests: one instance calling a
// dependency that answers its first `healthyCalls` calls, then fails, through a breaker that shares its circuit through
// a KV file or Redis ("kv" / "redis"), or through a breaker of its own
// ("none"). Prints "ready", reads the start time (clock ms) from stdin,
// calls until start + runMs, then prints one JSON line { id, sent, openedAt, lateMs }: lateMs
// is the most any of its sleeps woke late (how starved of CPU the machine kept it).
import { CircuitBreaker, systemClock } from "../../mod.ts";
import { type FleetStateStore, kvStateStore, redisStateStore } from "../../fleet.ts";

interface Args {
  id: string;
  store: "kv" | "redis" | "none";
  path?: string;
  url?: string;
  runMs: number;
  callEveryMs: number;
  syncIntervalMs: number;
  size: number;
  healthyCalls: number;
}

const args: Args = JSON.parse(Deno.args[0]);
const store: FleetStateStore | undefined = args.store === "kv"
  ? await kvStateStore({ path: args.path })
  : args.store === "redis"
  ? await redisStateStore({ url: args.url })
  : undefined;
let openedAt: number | null = null;
const breaker = new CircuitBreaker({
  name: "dependency",
  kind: "count",
  size: args.size,
  threshold: 0.5,
  breakMs: 60_000,
  ...(store === undefined
    ? {}
    : { fleet: { store, syncIntervalMs: args.syncIntervalMs, instanceId: args.id } }),
  onEvent: (e) => {
    if (e.type === "circuit_transition" && e.to === "open" && openedAt === null) {
      openedAt = e.timestamp;
    }
  },
});
let calls = 0;
let sent = 0; // calls sent to the dependency once it was failing
let lateMs = 0;
console.log("ready");
const line = await new Response(Deno.stdin.readable).text();
const startAt = Number(line.trim());
await systemClock.sleep(Math.max(0, startAt - systemClock.now()));
const end = startAt + args.runMs;
for (let next = startAt; systemClock.now() < end; next += args.callEveryMs) {
  await breaker.execute(() => {
    if (++calls <= args.healthyCalls) return "ok";
    sent++;
    throw new Error("dependency down");
  }).catch(() => {});
  const wake = next + args.callEveryMs;
  await systemClock.sleep(Math.max(0, wake - systemClock.now()));
  lateMs = Math.max(lateMs, systemClock.now() - wake);
}
await breaker.fleet.close();
await store?.close();
console.log(JSON.stringify({ id: args.id, sent, openedAt, lateMs }));
