import assert from "node:assert/strict";
import { type StampedEntry, TimerWheel } from "../../src/core/timer_wheel.ts";
import { systemClock, systemTimerWheel } from "../../src/core/clock.ts";
import { policy } from "../../src/policy/policy.ts";

/** A wheel on a hand-moved clock; `runDue` stands in for the interval. */
function manual(tickMs = 10) {
  let now = 1_000;
  const wheel = new TimerWheel({ tickMs, now: () => now });
  return {
    wheel,
    at: (t: number) => {
      now = t;
      wheel.runDue();
    },
  };
}

Deno.test("TimerWheel fires no earlier than the delay and within one tick after it", () => {
  const { wheel, at } = manual(10);
  const fired: Array<[string, number]> = [];
  let clock = 1_000;
  const move = (t: number) => {
    clock = t;
    at(t);
  };
  wheel.schedule(() => fired.push(["a", clock]), 25); // due 1025 -> tick 103 (1030)
  wheel.schedule(() => fired.push(["b", clock]), 30); // due 1030 -> tick 103
  wheel.schedule(() => fired.push(["c", clock]), 0); // due now -> tick 100 (already current)
  move(1_009);
  assert.deepEqual(fired, []);
  move(1_010);
  assert.deepEqual(fired, [["c", 1_010]]);
  move(1_029);
  assert.equal(fired.length, 1, "not before its tick");
  move(1_030);
  assert.deepEqual(fired.map((f) => f[0]), ["c", "a", "b"]);
  assert.equal(wheel.pending, 0);
  assert.equal(wheel.running, false, "stops once nothing is pending");
});

Deno.test("TimerWheel: cancelled entries never fire; a late tick catches up in order", () => {
  const { wheel, at } = manual(10);
  const fired: string[] = [];
  const x = wheel.schedule(() => fired.push("x"), 15);
  wheel.schedule(() => fired.push("y"), 40);
  wheel.schedule(() => fired.push("z"), 90);
  wheel.cancel(x);
  wheel.cancel(x); // twice is harmless
  assert.equal(wheel.pending, 2);
  at(1_100); // the event loop was blocked for 100 ms
  assert.deepEqual(fired, ["y", "z"]);
  wheel.stop();
});

Deno.test("TimerWheel: a throwing callback does not stop the others", async () => {
  const { wheel, at } = manual(10);
  const fired: string[] = [];
  const errors: unknown[] = [];
  const onError = (e: ErrorEvent) => {
    e.preventDefault();
    errors.push(e.error);
  };
  globalThis.addEventListener("error", onError);
  try {
    wheel.schedule(() => {
      throw new Error("bad callback");
    }, 5);
    wheel.schedule(() => fired.push("after"), 5);
    at(1_010);
    assert.deepEqual(fired, ["after"]);
    await new Promise((r) => setTimeout(r, 0));
    assert.equal((errors[0] as Error).message, "bad callback");
  } finally {
    globalThis.removeEventListener("error", onError);
    wheel.stop();
  }
});

Deno.test("1,000 successful calls with a deadline arm the shared timer once and leave nothing pending", async () => {
  const p = policy("hot", {
    telemetry: false,
    deadlineMs: 2_000,
    attemptTimeoutMs: 500,
    retry: { maxAttempts: 3 },
  });
  const armedBefore = systemTimerWheel.armCount;
  for (let i = 0; i < 1_000; i++) await p.execute(() => i);
  assert.ok(systemTimerWheel.armCount - armedBefore <= 1, "one runtime timer for 1,000 calls");
  assert.equal(systemTimerWheel.pending, 0);
  await new Promise((r) => setTimeout(r, 0)); // let the wheel see it is idle
  assert.equal(systemTimerWheel.running, false);
  // ...and the op sanitizer would fail this test if any timer were left.
});

Deno.test("a deadline on the system clock still fires, within a tick", async () => {
  const p = policy("hung", { telemetry: false, deadlineMs: 12 });
  const start = systemClock.now();
  await assert.rejects(p.execute(() => new Promise(() => {})), { name: "DeadlineExceededError" });
  const took = systemClock.now() - start;
  assert.ok(took >= 12, `fired early: ${took} ms`);
  assert.equal(systemTimerWheel.running, false);
});

Deno.test("TimerWheel: a callback cancelling a same-tick sibling leaves the slot's count sound", () => {
  const { wheel, at } = manual(10);
  const fired: string[] = [];
  // A and B share a tick; A cancels B while the tick runs.
  const b = { entry: undefined as ReturnType<TimerWheel["schedule"]> | undefined };
  wheel.schedule(() => {
    fired.push("a");
    wheel.cancel(b.entry!);
  }, 5);
  b.entry = wheel.schedule(() => fired.push("b"), 5);
  wheel.schedule(() => fired.push("keeper"), 100_000); // keeps the wheel armed
  at(1_010);
  assert.deepEqual(fired, ["a"]);
  // One rotation later the same slot (tick 101 + 4096) is used again: C must still fire.
  at(1_020);
  wheel.schedule(() => fired.push("c"), 41_965 - 1_020);
  const d = wheel.schedule(() => fired.push("d"), 41_965 - 1_020);
  wheel.cancel(d);
  at(41_970);
  assert.deepEqual(fired, ["a", "c"]);
  wheel.stop();
});

Deno.test("TimerWheel: cancelling an entry dropped by stop() does not disturb new timers", () => {
  const { wheel, at } = manual(10);
  const fired: string[] = [];
  const old = wheel.schedule(() => fired.push("old"), 50);
  wheel.stop();
  wheel.schedule(() => fired.push("new"), 50);
  wheel.cancel(old);
  assert.equal(wheel.pending, 1);
  at(1_060);
  assert.deepEqual(fired, ["new"]);
  assert.equal(wheel.running, false);
});

Deno.test("TimerWheel: long timers beyond the ring fire on time and are dropped when cancelled", () => {
  const { wheel, at } = manual(10);
  const fired: string[] = [];
  const far = 4_096 * 10 * 3; // three rotations ahead: kept outside the ring
  wheel.schedule(() => fired.push("far"), far);
  for (let i = 0; i < 1_000; i++) wheel.cancel(wheel.schedule(() => fired.push("x"), far + 7));
  assert.equal(wheel.pending, 1);
  at(1_000 + far - 10);
  assert.deepEqual(fired, []);
  at(1_000 + far);
  assert.deepEqual(fired, ["far"]);
  assert.equal(wheel.running, false);
});

Deno.test("TimerWheel: a slot emptied by cancels is reused without firing what was cancelled", () => {
  const { wheel, at } = manual(10);
  const fired: string[] = [];
  // 100 arm-then-cancel pairs in the same slot (the hot path of a call with a deadline).
  for (let i = 0; i < 100; i++) {
    wheel.cancel(wheel.schedule(() => fired.push(`cancelled ${i}`), 25));
  }
  assert.equal(wheel.pending, 0);
  wheel.schedule(() => fired.push("kept"), 25);
  const dropped = wheel.schedule(() => fired.push("dropped"), 25);
  wheel.cancel(dropped);
  at(1_030);
  assert.deepEqual(fired, ["kept"]);
  assert.equal(wheel.pending, 0);
  assert.equal(wheel.running, false);
});

/** A caller-owned entry for scheduleFromNow that logs `name@time` when it fires. */
function owned(name: string, log: string[], now: () => number): StampedEntry {
  return {
    callback() {
      log.push(`${name}@${now()}`);
    },
    done: false,
    slot: 0,
    tick: 0,
    generation: 0,
    start: NaN,
    delayMs: 0,
  };
}

Deno.test("TimerWheel: an entry cancelled from a shared slot or far bucket and scheduled again fires only at its new time", () => {
  for (
    const [firstMs, againMs, checkAt] of [
      [50, 500, 1_100], // ring slot shared with a keeper
      [100_000, 200_000, 101_000], // far bucket shared with a keeper
    ]
  ) {
    let t = 1_000;
    const now = () => t;
    const wheel = new TimerWheel({ tickMs: 10, now });
    try {
      const log: string[] = [];
      const keeper = owned("keeper", log, now);
      const a = owned("a", log, now);
      wheel.scheduleFromNow(keeper, firstMs); // idle wheel: stamped at 1000
      wheel.scheduleFromNow(a, firstMs);
      wheel.runDue(); // both placed in the same slot (or far bucket)
      wheel.cancel(a); // the keeper keeps the slot alive, so a's reference stays there
      wheel.scheduleFromNow(a, againMs); // re-armed: stamped by the next tick (at checkAt)
      t = checkAt; // every tick up to here runs
      wheel.runDue();
      assert.deepEqual(log, [`keeper@${checkAt}`], `a fired early (${firstMs})`);
      assert.equal(wheel.pending, 1);
      t = checkAt + againMs - 10;
      wheel.runDue();
      assert.equal(log.length, 1, "not before its new time");
      t = checkAt + againMs;
      wheel.runDue();
      assert.deepEqual(log, [`keeper@${checkAt}`, `a@${checkAt + againMs}`]);
      assert.equal(wheel.pending, 0);
    } finally {
      wheel.stop();
    }
  }
});
