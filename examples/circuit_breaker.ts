/**
 * A circuit breaker in front of a simulated dependency that is down for the
 * first 6 seconds, then recovers. Runs in virtual time, so it finishes at
 * once and prints the same thing every time: the breaker trips, fails calls
 * fast while open, probes with growing breaks, and closes once probes
 * succeed. It ends by saving the breaker's state and restoring it, as a
 * restarted process would.
 *
 * Run: deno run examples/circuit_breaker.ts
 */
import { CircuitBreaker, CircuitOpenError, exponential, type ResilienceEvent } from "../mod.ts";
import { VirtualClock } from "../testing.ts";

const clock = new VirtualClock();
const seconds = () => (clock.now() / 1_000).toFixed(2).padStart(5);

/** The dependency: fails until t = 6 s, each call takes 50 ms. */
async function inventory(item: string): Promise<string> {
  await clock.sleep(50);
  if (clock.now() < 6_000) throw new Error("inventory: connection refused");
  return `${item}: 3 in stock`;
}

const breaker = new CircuitBreaker({
  name: "inventory",
  kind: "count",
  size: 10, // failure ratio over the last 10 calls...
  threshold: 0.5, // ...opens at 50%...
  minCalls: 4, // ...once at least 4 calls were seen
  breakMs: exponential({ baseMs: 1_000, maxMs: 4_000 }), // 1 s, 2 s, 4 s, 4 s, ...
  halfOpenMaxCalls: 2, // two probes must succeed to close
  clock,
  onEvent: (e: ResilienceEvent) => {
    if (e.type === "circuit_transition") {
      console.log(`${seconds()}s  ${e.from} -> ${e.to} (${e.reason})`);
    }
  },
});

let ok = 0;
let failed = 0;
let rejected = 0;
// One request every 250 ms for 10 seconds; two of them at a time.
for (let tick = 0; tick < 40; tick++) {
  const calls = [0, 1].map(() => breaker.execute(() => inventory("widget")));
  const settled = Promise.allSettled(calls);
  await clock.advance(250);
  for (const result of await settled) {
    if (result.status === "fulfilled") ok++;
    else if (result.reason instanceof CircuitOpenError) rejected++;
    else failed++;
  }
}

const stats = breaker.stats();
console.log(
  `calls: ${ok} ok, ${failed} failed at the dependency, ${rejected} failed fast by the breaker`,
);
console.log(`stats: ${JSON.stringify(stats)}`);

// Persistence: trip it again, save it, and restore it in a "new process".
while (breaker.state === "closed") breaker.recordFailure();
const saved = JSON.stringify(breaker);
console.log(`saved: ${saved}`);
const restored = new CircuitBreaker({
  name: "inventory",
  kind: "count",
  size: 10,
  threshold: 0.5,
  minCalls: 4,
  clock,
  initialState: JSON.parse(saved),
});
console.log(`restored: ${restored.state}, retry after ${restored.retryAfterMs} ms`);

if (breaker.state !== "open" || restored.state !== "open" || ok === 0 || rejected === 0) {
  throw new Error("the demo did not behave as expected");
}
