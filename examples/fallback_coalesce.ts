/**
 * Fallbacks and coalescing. A price service that is down: calls give up
 * (retries used up, then the open circuit) and answer from a cache; a
 * caller that aborts gets no fallback. A profile service hit by identical
 * requests: one load serves them all, a caller that leaves takes only itself
 * out, and the load is aborted when every caller has left. Runs in virtual
 * time: the output is the same on every machine.
 *
 * Run: deno run examples/fallback_coalesce.ts
 */
import { constant, policy, TransientError } from "../mod.ts";
import { VirtualClock } from "../testing.ts";

const clock = new VirtualClock();
const at = () => `${clock.now()} ms`.padStart(6);

console.log("fallback: the price service is down");
const prices = policy("prices", {
  clock,
  telemetry: false,
  retry: { maxAttempts: 3, backoff: constant(10) },
  circuit: { kind: "consecutive", threshold: 3, breakMs: 30_000 },
});
const cache = new Map([["sku-1", 9.99]]);
let attempts = 0;

async function price(sku: string, signal?: AbortSignal): Promise<void> {
  try {
    const value = await prices.execute(async ({ signal }) => {
      attempts++;
      await clock.sleep(5, signal);
      throw new TransientError("price service: 503");
    }, {
      signal,
      fallback: (error, { reason, attempts }) => {
        console.log(
          `${at()}  ${sku}: gave up (${reason}, ${attempts} attempts, ${(error as Error).name})`,
        );
        return cache.get(sku) ?? 0;
      },
    });
    console.log(`${at()}  ${sku}: ${value} (from the cache)`);
  } catch (error) {
    console.log(`${at()}  ${sku}: rejected, no fallback: ${(error as Error).message}`);
  }
}

const request = new AbortController();
const aborted = price("sku-1", request.signal);
await clock.advance(2); // the first attempt is running
request.abort(new Error("the client went away"));
await aborted;
const retried = price("sku-1");
await clock.advance(100);
await retried;
await price("sku-1"); // the circuit opened on the 3 failures: refused at once
console.log(`${at()}  attempts made: ${attempts}`);

console.log("\ncoalescing: identical profile requests share one load");
const profiles = policy("profiles", {
  clock,
  telemetry: false,
  onEvent(event) {
    if (event.type === "coalesced") {
      console.log(`${at()}  event: coalesced ${event.key}, ${event.callers} callers`);
    }
  },
});
let loads = 0;

async function profile(id: string, caller: string, signal?: AbortSignal): Promise<void> {
  try {
    const user = await profiles.execute(async ({ signal }) => {
      loads++;
      console.log(`${at()}  load ${id} starts (for ${caller})`);
      signal.addEventListener("abort", () => console.log(`${at()}  load ${id} aborted`));
      await clock.sleep(50, signal);
      return { id, name: `user ${id}` };
    }, { coalesceKey: `user:${id}`, signal });
    console.log(`${at()}  ${caller} got ${user.name}`);
  } catch (error) {
    console.log(`${at()}  ${caller} left: ${(error as Error).message}`);
  }
}

const leaving = new AbortController();
const callers = [
  profile("42", "header"),
  profile("42", "sidebar", leaving.signal),
  profile("42", "feed"),
];
await clock.advance(20);
leaving.abort(new Error("sidebar closed"));
await clock.advance(30);
await Promise.all(callers);
console.log(`${at()}  loads: ${loads}`);

const a = new AbortController();
const b = new AbortController();
const gone = [profile("7", "tab 1", a.signal), profile("7", "tab 2", b.signal)];
await clock.advance(10);
a.abort(new Error("tab 1 closed"));
b.abort(new Error("tab 2 closed"));
await Promise.all(gone);
console.log(`${at()}  loads: ${loads}`);
