// Delays of 2^31 ms (~24.9 days) or more: runtime timers fire them after
// ~1 ms, so the clock chains them; none may ever end early.
import assert from "node:assert/strict";
import {
  MAX_TIMER_DELAY_MS,
  type RuntimeTimerLayer,
  runtimeTimers,
  systemClock,
} from "../../src/core/clock.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { policy } from "../../src/policy/policy.ts";
import { constant } from "../../src/backoff/constant.ts";
import { TransientError } from "../../src/classify/markers.ts";
import { networkConditioner } from "../../src/fault/network_conditioner.ts";
import { faultInjection } from "../../src/fault/fault_injection.ts";

const DAY = 86_400_000;
const THIRTY_DAYS = 30 * DAY;

/**
 * A fake runtime timer layer on hand-moved time that clamps a delay of 2^31
 * ms or more to 1 ms, as Deno, Node and browsers do.
 */
function clampingLayer() {
  let now = 0;
  let nextId = 1;
  const timers = new Map<number, { due: number; callback: () => void }>();
  const armed: number[] = [];
  const layer: RuntimeTimerLayer = {
    set(callback, ms) {
      armed.push(ms);
      const id = nextId++;
      timers.set(id, { due: now + (ms >= 2 ** 31 ? 1 : Math.max(0, ms)), callback });
      return id;
    },
    clear(handle) {
      timers.delete(handle as number);
    },
    now: () => now,
  };
  /** Moves time to `t`, firing due timers in time order. */
  const advanceTo = (t: number) => {
    for (;;) {
      let first: [number, { due: number; callback: () => void }] | undefined;
      for (const entry of timers) {
        if (entry[1].due <= t && (first === undefined || entry[1].due < first[1].due)) {
          first = entry;
        }
      }
      if (first === undefined) break;
      timers.delete(first[0]);
      now = first[1].due;
      first[1].callback();
    }
    now = t;
  };
  return { layer, advanceTo, armed, timers, now: () => now };
}

/** Resolves true if `promise` settles within `ms` real milliseconds. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  promise.then(() => settled = true, () => settled = true);
  await new Promise((resolve) => setTimeout(resolve, ms));
  return settled;
}

Deno.test("systemClock.sleep of 30 days does not end after a few ms (runtime timers clamp it)", async () => {
  const controller = new AbortController();
  const sleeping = systemClock.sleep(THIRTY_DAYS, controller.signal);
  assert.equal(await settlesWithin(sleeping, 15), false);
  controller.abort(new Error("stop"));
  await assert.rejects(sleeping, { message: "stop" });
});

Deno.test("systemClock.sleep of exactly 2^31 ms (and Infinity) does not end early either", async () => {
  const controller = new AbortController();
  const a = systemClock.sleep(2 ** 31, controller.signal);
  const b = systemClock.sleep(Infinity, controller.signal);
  assert.equal(await settlesWithin(Promise.race([a, b]), 10), false);
  controller.abort(new Error("stop"));
  await assert.rejects(a, { message: "stop" });
  await assert.rejects(b, { message: "stop" });
});

Deno.test("systemClock.setTimer / setTimerAt of 30 days do not fire early; clearTimer cancels them", async () => {
  const fired: string[] = [];
  const a = systemClock.setTimer(() => fired.push("setTimer"), THIRTY_DAYS);
  const b = systemClock.setTimerAt!(
    () => fired.push("setTimerAt"),
    systemClock.now() + THIRTY_DAYS,
  );
  await new Promise((resolve) => setTimeout(resolve, 15));
  assert.deepEqual(fired, []);
  systemClock.clearTimer(a);
  systemClock.clearTimer(b);
});

Deno.test("runtimeTimers chains a 30-day timer on a clamping layer: it fires at 30 days, not before", () => {
  const fake = clampingLayer();
  const clock = runtimeTimers(fake.layer, fake.now);
  const fired: number[] = [];
  clock.setTimer(() => fired.push(fake.now()), THIRTY_DAYS);
  assert.ok(fake.armed.every((ms) => ms <= MAX_TIMER_DELAY_MS));
  fake.advanceTo(1);
  fake.advanceTo(MAX_TIMER_DELAY_MS); // the first link ends
  assert.deepEqual(fired, []);
  fake.advanceTo(THIRTY_DAYS - 1);
  assert.deepEqual(fired, []);
  fake.advanceTo(THIRTY_DAYS);
  assert.deepEqual(fired, [THIRTY_DAYS]);
  assert.ok(fake.armed.every((ms) => ms <= MAX_TIMER_DELAY_MS), `armed ${fake.armed}`);
  assert.equal(fake.timers.size, 0);
});

Deno.test("runtimeTimers: a delay up to 2^31 - 1 ms is one runtime timer; a longer one cancels mid-chain", () => {
  const fake = clampingLayer();
  const clock = runtimeTimers(fake.layer, fake.now);
  const fired: string[] = [];
  clock.setTimer(() => fired.push("max"), MAX_TIMER_DELAY_MS);
  assert.deepEqual(fake.armed, [MAX_TIMER_DELAY_MS]);
  const long = clock.setTimer(() => fired.push("long"), 3 * MAX_TIMER_DELAY_MS);
  fake.advanceTo(MAX_TIMER_DELAY_MS + 10);
  assert.deepEqual(fired, ["max"]);
  assert.equal(fake.timers.size, 1); // the next link
  clock.clearTimer(long);
  assert.equal(fake.timers.size, 0);
  fake.advanceTo(10 * MAX_TIMER_DELAY_MS);
  assert.deepEqual(fired, ["max"]);
});

Deno.test("runtimeTimers: a link that fires early (drift) re-arms for what is left", () => {
  let now = 0;
  const pending: Array<{ callback: () => void; ms: number }> = [];
  const clock = runtimeTimers({
    set(callback, ms) {
      pending.push({ callback, ms });
      return pending.length;
    },
    clear() {},
    now: () => now,
  }, () => now);
  let fired = false;
  clock.setTimer(() => fired = true, MAX_TIMER_DELAY_MS + 1_000);
  now = MAX_TIMER_DELAY_MS - 5; // the runtime fired the first link 5 ms early
  pending.shift()!.callback();
  assert.equal(fired, false);
  assert.equal(pending[0].ms, 1_005);
  now += 1_005;
  pending.shift()!.callback();
  assert.equal(fired, true);
});

Deno.test("runtimeTimers.sleep of 30 days waits 30 days and still aborts at once", async () => {
  const fake = clampingLayer();
  const clock = runtimeTimers(fake.layer, fake.now);
  let done = false;
  const sleeping = clock.sleep(THIRTY_DAYS).then(() => done = true);
  fake.advanceTo(DAY * 29);
  await Promise.resolve();
  assert.equal(done, false);
  fake.advanceTo(THIRTY_DAYS);
  await sleeping;
  assert.equal(done, true);

  const controller = new AbortController();
  const aborted = clock.sleep(THIRTY_DAYS, controller.signal);
  fake.advanceTo(THIRTY_DAYS + MAX_TIMER_DELAY_MS + 1);
  assert.equal(fake.timers.size, 1);
  controller.abort(new Error("stop"));
  await assert.rejects(aborted, { message: "stop" });
  assert.equal(fake.timers.size, 0);
});

Deno.test("a 30-day backoff on the system clock does not retry after a few ms", async () => {
  const controller = new AbortController();
  let attempts = 0;
  const p = policy("long backoff, system clock", {
    telemetry: false,
    retry: { maxAttempts: 5, backoff: constant(THIRTY_DAYS) },
  });
  const call = p.execute(() => {
    attempts++;
    throw new TransientError("again");
  }, { signal: controller.signal });
  assert.equal(await settlesWithin(call, 15), false);
  assert.equal(attempts, 1);
  controller.abort(new Error("stop"));
  await assert.rejects(call, { message: "stop" });
});

Deno.test("a 30-day backoff on a VirtualClock waits its full 30 days", async () => {
  const clock = new VirtualClock();
  const starts: number[] = [];
  const p = policy("long backoff", {
    clock,
    telemetry: false,
    retry: { maxAttempts: 2, backoff: constant(THIRTY_DAYS) },
  });
  const call = p.execute(() => {
    starts.push(clock.now());
    if (starts.length === 1) throw new TransientError("once");
    return Promise.resolve("ok");
  });
  await clock.advance(THIRTY_DAYS - 1);
  assert.deepEqual(starts, [0]);
  await clock.advance(1);
  assert.equal(await call, "ok");
  assert.deepEqual(starts, [0, THIRTY_DAYS]);
});

Deno.test("a 30-day Retry-After on a VirtualClock (no cap set on the policy) waits its full 30 days", async () => {
  const clock = new VirtualClock();
  const starts: number[] = [];
  const p = policy("long retry-after", { clock, telemetry: false, retry: { maxAttempts: 2 } });
  const call = p.execute(() => {
    starts.push(clock.now());
    return Promise.resolve(
      starts.length === 1
        ? new Response(null, { status: 503, headers: { "retry-after": "2592000" } })
        : new Response("ok"),
    );
  });
  await clock.advance(THIRTY_DAYS - 1);
  assert.deepEqual(starts, [0]);
  await clock.advance(1);
  assert.equal(await (await call).text(), "ok");
  assert.deepEqual(starts, [0, THIRTY_DAYS]);
});

Deno.test("a 30-day injected latency on the system clock does not end after a few ms", async () => {
  const controller = new AbortController();
  const conditioned = networkConditioner({
    latencyMs: THIRTY_DAYS,
    fetch: () => Promise.resolve(new Response("ok")),
  });
  const request = conditioned("http://127.0.0.1/", { signal: controller.signal });
  const slow = faultInjection((_opts: { signal: AbortSignal }) => Promise.resolve("ok"), {
    latencyMs: THIRTY_DAYS,
  });
  const call = slow({ signal: controller.signal });
  assert.equal(await settlesWithin(Promise.race([request, call]), 15), false);
  controller.abort(new Error("stop"));
  await assert.rejects(request, { message: "stop" });
  await assert.rejects(call, { message: "stop" });
});
