// Must-show 1: four real Deno processes share one circuit through a KV file,
// then through one Redis, while four independent breakers run alongside.
// Each instance calls every 20 ms; the dependency answers each instance's
// first 10 calls, then fails. Count windows of 40 calls, ratio 0.5: the fleet
// needs about 40 failures in all (40 good + 40 failed), four instances alone
// need 30 each (10 good + 30 failed fill a window).
import assert from "node:assert/strict";
import { startRedis } from "./_redis.ts";

/** Test code resolves through the development config (and its lockfile), as `deno test` does. */
const DEV_CONFIG = new URL("../../dev/deno.json", import.meta.url).pathname;
const WORKER = new URL("./_fleet_worker.ts", import.meta.url).pathname;
const SYNC_MS = 50;
const SIZE = 40;
/** Calls each instance makes before the dependency starts failing. */
const HEALTHY = 10;

interface Result {
  id: string;
  sent: number;
  openedAt: number | null;
  /** The most any of its sleeps woke late, in ms. */
  lateMs: number;
}

/** Reads a child's stdout: `ready()` resolves at its first line, `rest()` with everything after. */
function lines(
  stream: ReadableStream<Uint8Array>,
): { ready: Promise<void>; rest: Promise<string> } {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let onReady = () => {};
  const ready = new Promise<void>((resolve) => onReady = resolve);
  const rest = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += value;
      if (text.includes("ready\n")) onReady();
    }
    onReady();
    return text;
  })();
  return { ready, rest };
}

/** Child processes that print "ready", start together at the time written to their stdin, and print a result. */
async function runAll(argsList: Record<string, unknown>[]): Promise<Result[]> {
  const children = argsList.map((args) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", DEV_CONFIG, "--unstable-kv", WORKER, JSON.stringify(args)],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn()
  );
  const outs = children.map((child) => lines(child.stdout));
  await Promise.all(outs.map((o) => o.ready));
  const startAt = Date.now() + 100;
  for (const child of children) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(`${startAt}\n`));
    await writer.close();
  }
  const results: Result[] = [];
  for (let i = 0; i < children.length; i++) {
    const text = await outs[i].rest;
    assert.equal((await children[i].status).code, 0);
    const all = text.trim().split("\n");
    assert.equal(all[0], "ready");
    results.push(JSON.parse(all.at(-1)!));
  }
  return results;
}

async function fourAndFour(store: Record<string, unknown>): Promise<void> {
  const common = {
    runMs: 2_000,
    callEveryMs: 20,
    syncIntervalMs: SYNC_MS,
    size: SIZE,
    healthyCalls: HEALTHY,
  };
  const ids = ["a", "b", "c", "d"];
  const results = await runAll([
    ...ids.map((id) => ({ ...common, ...store, id })),
    ...ids.map((id) => ({ ...common, store: "none", id: `${id}-alone` })),
  ]);
  const fleet = results.slice(0, 4);
  const alone = results.slice(4);
  const opened = fleet.map((r) => r.openedAt);
  assert.ok(opened.every((t) => t !== null), `every instance opened: ${JSON.stringify(fleet)}`);
  const spread = Math.max(...(opened as number[])) - Math.min(...(opened as number[]));
  // The most any instance's timer woke late: a process the machine starves adopts late by as much.
  const lateMs = Math.max(...fleet.map((r) => r.lateMs));
  const fleetSent = fleet.reduce((n, r) => n + r.sent, 0);
  const aloneSent = alone.reduce((n, r) => n + r.sent, 0);
  console.log(
    `${store.store}: all four open within ${spread.toFixed(0)} ms of the first ` +
      `(sync ${SYNC_MS} ms); failing calls sent before all were open: fleet ${fleetSent}, ` +
      `independent ${aloneSent} (window: ${SIZE} calls, ratio 0.5); timers up to ` +
      `${lateMs.toFixed(0)} ms late`,
  );
  // Two sync intervals, plus what a loaded machine added.
  assert.ok(spread <= 2 * SYNC_MS + lateMs, `spread ${spread} ms (timers up to ${lateMs} ms late)`);
  // Alone, each window holds 10 good calls: it opens at 40 calls, 30 of them failed.
  assert.equal(aloneSent, 4 * (SIZE - HEALTHY), "independent breakers each need a full window");
  assert.ok(fleetSent <= 2 * SIZE, `fleet sent ${fleetSent}`);
}

Deno.test("four processes sharing a KV file open together, after about one threshold's worth of calls", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await fourAndFour({ store: "kv", path: `${dir}/fleet.db` });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("four processes sharing one Redis open together, after about one threshold's worth of calls", async () => {
  const redis = await startRedis();
  try {
    await fourAndFour({ store: "redis", url: redis.url });
  } finally {
    await redis.stop();
  }
});
