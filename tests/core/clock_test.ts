import assert from "node:assert/strict";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { systemClock } from "../../src/core/clock.ts";
import { seededRandom } from "../../src/core/random.ts";

Deno.test("VirtualClock fires timers in time order and ends at now + ms", async () => {
  const clock = new VirtualClock(10);
  const fired: Array<[string, number]> = [];
  clock.setTimer(() => fired.push(["b", clock.now()]), 200);
  clock.setTimer(() => fired.push(["a", clock.now()]), 100);
  clock.setTimer(() => fired.push(["a2", clock.now()]), 100);
  clock.setTimer(() => fired.push(["late", clock.now()]), 1_000);
  assert.equal(clock.pending, 4);
  await clock.advance(500);
  assert.deepEqual(fired, [["a", 110], ["a2", 110], ["b", 210]]);
  assert.equal(clock.now(), 510);
  assert.equal(clock.pending, 1);
  await clock.runAll();
  assert.deepEqual(fired.at(-1), ["late", 1_010]);
  assert.equal(clock.pending, 0);
});

Deno.test("VirtualClock lets promise chains run between timers", async () => {
  const clock = new VirtualClock();
  const steps: number[] = [];
  (async () => {
    await clock.sleep(100);
    steps.push(clock.now());
    await Promise.resolve();
    await clock.sleep(100); // set from a promise callback after the first timer
    steps.push(clock.now());
  })();
  await clock.advance(250);
  assert.deepEqual(steps, [100, 200]);
});

Deno.test("VirtualClock sleep rejects at once on abort and leaves no timer", async () => {
  const clock = new VirtualClock();
  const controller = new AbortController();
  const sleeping = clock.sleep(1_000, controller.signal);
  assert.equal(clock.pending, 1);
  controller.abort(new Error("stop"));
  await assert.rejects(sleeping, { message: "stop" });
  assert.equal(clock.pending, 0);
  assert.equal(clock.now(), 0);
  await assert.rejects(clock.sleep(5, AbortSignal.abort("already")), (e) => e === "already");
  assert.equal(clock.pending, 0);
});

Deno.test("VirtualClock clearTimer cancels and sleep(0) resolves without time passing", async () => {
  const clock = new VirtualClock();
  let fired = false;
  const id = clock.setTimer(() => (fired = true), 10);
  clock.clearTimer(id);
  clock.clearTimer(id); // twice is harmless
  await clock.advance(20);
  assert.equal(fired, false);
  await clock.sleep(0);
  assert.equal(clock.now(), 20);
  assert.equal(clock.timersCreated, 1);
});

Deno.test("VirtualClock stays small when most timers are cleared", async () => {
  const clock = new VirtualClock();
  for (let i = 0; i < 10_000; i++) clock.clearTimer(clock.setTimer(() => {}, 1_000 + i));
  assert.equal(clock.pending, 0);
  let fired = 0;
  clock.setTimer(() => fired++, 5);
  await clock.runAll();
  assert.equal(fired, 1);
  assert.equal(clock.now(), 5);
});

Deno.test("VirtualClock.runAll throws instead of looping forever", async () => {
  const clock = new VirtualClock();
  const again = () => {
    clock.setTimer(again, 1);
  };
  again();
  await assert.rejects(clock.runAll({ maxTimers: 50 }), {
    name: "RangeError",
    message: "runAll fired 50 timers and more are pending: a timer keeps rescheduling itself",
  });
  assert.equal(clock.now(), 50);
  assert.throws(() => new VirtualClock(NaN), {
    name: "RangeError",
    message: `startMs must be a number >= ${Number.MIN_SAFE_INTEGER}: received NaN`,
  });
  await assert.rejects(clock.advance(-1), {
    name: "RangeError",
    message: "ms must be a number >= 0: received -1",
  });
  // Leave nothing pending for the sanitizers.
  for (let i = 0; i < 5 && clock.pending > 0; i++) {
    await clock.runAll({ maxTimers: 1 }).catch(() => {});
  }
});

Deno.test("systemClock sleeps for real and cancels on abort", async () => {
  const start = systemClock.now();
  await systemClock.sleep(2);
  assert.ok(systemClock.now() - start >= 1);
  assert.ok(Math.abs(systemClock.now() - Date.now()) < 1_000, "epoch milliseconds");
  const controller = new AbortController();
  const sleeping = systemClock.sleep(60_000, controller.signal);
  controller.abort("cancelled");
  await assert.rejects(sleeping, (e) => e === "cancelled");
  // The sanitizer fails this test if the 60 s timer were still pending.
});

Deno.test("seededRandom is deterministic, in [0, 1) and validates its seed", () => {
  const a = seededRandom(7);
  const b = seededRandom(7);
  const c = seededRandom(8);
  const xs = Array.from({ length: 1_000 }, a);
  assert.deepEqual(xs.slice(0, 5), Array.from({ length: 5 }, b));
  assert.notEqual(xs[0], c());
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
  assert.throws(() => seededRandom(1.5), {
    name: "RangeError",
    message: "seed must be an integer >= -2147483648: received 1.5",
  });
});
