/**
 * A rate limit in front of a partner API that allows 10 calls a second:
 * a burst goes at once, then one call every 100 ms; a call that would wait
 * longer than `maxWaitMs` is refused with its `retryAfterMs`, or falls back;
 * a waiter that gives up hands its token back; two policies share one
 * limiter. Runs in virtual time: the output is the same on every machine.
 *
 * Run: deno run examples/rate_limit.ts
 */
import { policy, RateLimitedError, RateLimiter } from "../mod.ts";
import { VirtualClock } from "../testing.ts";

const clock = new VirtualClock();
const at = () => `${clock.now()} ms`.padStart(7);

const partner = policy("partner", {
  clock,
  telemetry: false,
  rateLimit: { ratePerSecond: 10, burst: 3, maxWaitMs: 250 },
  onEvent(event) {
    if (event.type === "rate_limited") {
      console.log(`${at()}  event: rate_limited, retry after ${event.retryAfterMs} ms`);
    }
  },
});

async function call(id: number, options: { signal?: AbortSignal } = {}): Promise<void> {
  try {
    const result = await partner.execute(() => {
      console.log(`${at()}  #${id} starts`);
      return `quote ${id}`;
    }, options);
    console.log(`${at()}  #${id} done: ${result}`);
  } catch (error) {
    const what = error instanceof RateLimitedError
      ? `refused: ${error.message}; retryAfterMs ${error.retryAfterMs}`
      : `left while waiting: ${(error as Error).message}`;
    console.log(`${at()}  #${id} ${what}`);
  }
}

console.log("7 calls at once; ratePerSecond 10, burst 3, maxWaitMs 250");
const burst = [1, 2, 3, 4, 5, 6, 7].map((id) => call(id));
await clock.advance(1_000);
await Promise.all(burst);

console.log("\nthe bucket is full again; 4 calls, and the 4th caller leaves while it waits");
const leaving = new AbortController();
const waiters = [8, 9, 10].map((id) => call(id));
const fourth = call(11, { signal: leaving.signal });
await clock.advance(50);
leaving.abort(new Error("the user navigated away"));
await fourth;
const limiter = partner.rateLimiter!;
// #11 had reserved the token due at 1100 ms; it gave it back, so the next is due at 1100 ms, not 1200
console.log(`${at()}  next token in ${limiter.retryAfterMs()} ms (#11 gave its token back)`);
await clock.advance(1_000);
await Promise.all(waiters);

console.log("\n6 calls at once with a fallback: the refused one gets the cached quote");
const withFallback = [12, 13, 14, 15, 16, 17].map(async (id) => {
  const quote = await partner.execute(() => `quote ${id}`, {
    fallback: (_error, { reason }) => `cached quote (${reason})`,
  });
  console.log(`${at()}  #${id}: ${quote}`);
});
await clock.advance(1_000);
await Promise.all(withFallback);

console.log("\ntwo policies share one limiter (2 a second, burst 2)");
const shared = new RateLimiter({ name: "partner-api", ratePerSecond: 2, clock });
const orders = policy("orders", { clock, telemetry: false, rateLimit: shared });
const refunds = policy("refunds", { clock, telemetry: false, rateLimit: shared });
for (const [p, what] of [[orders, "order"], [refunds, "refund"], [refunds, "refund"]] as const) {
  try {
    console.log(`${at()}  ${await p.execute(() => `${what} sent`)}`);
  } catch (error) {
    const e = error as RateLimitedError;
    console.log(
      `${at()}  ${what} refused for policy "${e.policy}": retry after ${e.retryAfterMs} ms`,
    );
  }
}
