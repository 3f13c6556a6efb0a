// A child process of the half-open lease test: a breaker sharing the circuit
// "dep" through a KV file. Prints "ready", waits for a line on stdin, then
// polls allowCall() every 10 ms once the circuit has opened. An admitted call is a probe: it prints
// "probe <id> <clock ms>" and holds the probe until the file `release` exists, then
// records a success. Prints every transition; exits once closed.
import { CircuitBreaker, systemClock } from "../../mod.ts";
import { kvStateStore } from "../../fleet.ts";

const { id, path, release, leaseMs } = JSON.parse(Deno.args[0]);
const store = await kvStateStore({ path });
let closed = false;
let opened = false;
const breaker = new CircuitBreaker({
  name: "dep",
  kind: "consecutive",
  threshold: 1,
  breakMs: 200,
  halfOpenMaxCalls: 1,
  fleet: { store, syncIntervalMs: 50, instanceId: id, leaseMs },
  onEvent: (e) => {
    if (e.type === "fleet_sync_failed") console.log(`failed ${id} ${e.operation} ${e.error}`);
    if (e.type !== "circuit_transition") return;
    console.log(`state ${id} ${e.from}->${e.to} ${e.reason}`);
    if (e.to === "open") opened = true;
    if (e.to === "closed") closed = true;
  },
});
console.log("ready");
await new Response(Deno.stdin.readable).text();
const end = systemClock.now() + 15_000;
while (!closed && systemClock.now() < end) {
  // Calls start once the fleet's opening was adopted: each admitted call is then a probe.
  if (opened && breaker.allowCall()) {
    console.log(`probe ${id} ${systemClock.now()}`);
    while (true) {
      try {
        await Deno.stat(release);
        break;
      } catch {
        await systemClock.sleep(10);
      }
    }
    breaker.recordSuccess();
  }
  await systemClock.sleep(10);
}
await breaker.fleet.close();
await store.close();
Deno.exit(closed ? 0 : 1);
