/**
 * A bulkhead in front of a slow dependency: two calls run at once, three may
 * wait, and every rejection is printed with its reason. Runs in about a
 * second of real time, with no network.
 *
 * Run: deno run examples/bulkhead.ts
 */
import { Bulkhead, BulkheadRejectedError, type ResilienceEvent, systemClock } from "../mod.ts";

const started = systemClock.now();
const elapsed = () => `${Math.round(systemClock.now() - started)} ms`.padStart(7);

const bulkhead = new Bulkhead({
  name: "reports",
  maxConcurrent: 2,
  maxQueue: 3,
  queueTimeoutMs: 250,
  onEvent(event: ResilienceEvent) {
    if (event.type === "bulkhead_rejected") {
      console.log(
        `${elapsed()}    event: rejected (${event.reason}), ${event.inFlight} running, ${event.queued} queued`,
      );
    }
  },
});

let running = 0;
let peak = 0;

/** A call to the slow dependency: takes `ms` of real time. */
async function slowReport(id: number, ms: number): Promise<string> {
  peak = Math.max(peak, ++running);
  console.log(`${elapsed()}  #${id} starts (${running} running)`);
  try {
    await systemClock.sleep(ms);
    return `report ${id}`;
  } finally {
    running--;
  }
}

async function call(id: number, ms: number, signal?: AbortSignal): Promise<void> {
  try {
    const result = await bulkhead.execute(() => slowReport(id, ms), { signal });
    console.log(`${elapsed()}  #${id} done: ${result}`);
  } catch (error) {
    const why = error instanceof BulkheadRejectedError ? error.message : `aborted (${error})`;
    console.log(`${elapsed()}  #${id} refused: ${why}`);
  }
}

console.log("8 calls at once; maxConcurrent 2, maxQueue 3, each call takes 100 ms");
// 1-2 run, 3-5 queue (3 and 4 start at 100 ms, 5 at 200 ms), 6-8 are refused at once
await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((id) => call(id, 100)));

console.log("\ntwo 500 ms calls hold both permits; one caller waits too long, one gives up");
const controller = new AbortController();
systemClock.setTimer(() => controller.abort(new Error("the user navigated away")), 100);
await Promise.all([
  call(9, 500),
  call(10, 500),
  call(11, 100), // waits in the queue until queueTimeoutMs (250 ms) passes
  call(12, 100, controller.signal), // leaves the queue when its signal aborts at 100 ms
]);

console.log(
  `\npeak concurrency: ${peak}; now ${bulkhead.inFlight} running, ${bulkhead.queued} queued`,
);
