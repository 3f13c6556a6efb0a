import assert from "node:assert/strict";
import { TimerWheel } from "../../src/core/timer_wheel.ts";
import { systemClock, systemTimerWheel } from "../../src/core/clock.ts";
import { policy } from "../../src/policy/policy.ts";
import { finish, macrotask, manual, stamped } from "../_wheel.ts";

// ---------------------------------------------------------------------------
// TimerWheel.schedule / cancel / stop, and the system clock's shared wheel
// ---------------------------------------------------------------------------

Deno.test("TimerWheel fires no earlier than the delay and within one tick after it", () => {
  const { wheel, tick } = manual(10);
  const fired: Array<[string, number]> = [];
  let clock = 1_000;
  const move = (t: number) => {
    clock = t;
    tick(t);
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
  const { wheel, tick } = manual(10);
  const fired: string[] = [];
  const x = wheel.schedule(() => fired.push("x"), 15);
  wheel.schedule(() => fired.push("y"), 40);
  wheel.schedule(() => fired.push("z"), 90);
  wheel.cancel(x);
  wheel.cancel(x); // twice is harmless
  assert.equal(wheel.pending, 2);
  tick(1_100); // the event loop was blocked for 100 ms
  assert.deepEqual(fired, ["y", "z"]);
  wheel.stop();
});

Deno.test("TimerWheel: a throwing callback does not stop the others", async () => {
  const { wheel, tick } = manual(10);
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
    tick(1_010);
    assert.deepEqual(fired, ["after"]);
    await macrotask();
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
  await macrotask(); // let the wheel see it is idle
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
  const { wheel, tick } = manual(10);
  const fired: string[] = [];
  // A and B share a tick; A cancels B while the tick runs.
  const b = { entry: undefined as ReturnType<TimerWheel["schedule"]> | undefined };
  wheel.schedule(() => {
    fired.push("a");
    wheel.cancel(b.entry!);
  }, 5);
  b.entry = wheel.schedule(() => fired.push("b"), 5);
  wheel.schedule(() => fired.push("keeper"), 100_000); // keeps the wheel armed
  tick(1_010);
  assert.deepEqual(fired, ["a"]);
  // One rotation later the same slot (tick 101 + 4096) is used again: C must still fire.
  tick(1_020);
  wheel.schedule(() => fired.push("c"), 41_965 - 1_020);
  const d = wheel.schedule(() => fired.push("d"), 41_965 - 1_020);
  wheel.cancel(d);
  tick(41_970);
  assert.deepEqual(fired, ["a", "c"]);
  wheel.stop();
});

Deno.test("TimerWheel: cancelling an entry dropped by stop() does not disturb new timers", () => {
  const { wheel, tick } = manual(10);
  const fired: string[] = [];
  const old = wheel.schedule(() => fired.push("old"), 50);
  wheel.stop();
  wheel.schedule(() => fired.push("new"), 50);
  wheel.cancel(old);
  assert.equal(wheel.pending, 1);
  tick(1_060);
  assert.deepEqual(fired, ["new"]);
  assert.equal(wheel.running, false);
});

Deno.test("TimerWheel: long timers beyond the ring fire on time and are dropped when cancelled", () => {
  const { wheel, tick } = manual(10);
  const fired: string[] = [];
  const far = 4_096 * 10 * 3; // three rotations ahead: kept outside the ring
  wheel.schedule(() => fired.push("far"), far);
  for (let i = 0; i < 1_000; i++) wheel.cancel(wheel.schedule(() => fired.push("x"), far + 7));
  assert.equal(wheel.pending, 1);
  tick(1_000 + far - 10);
  assert.deepEqual(fired, []);
  tick(1_000 + far);
  assert.deepEqual(fired, ["far"]);
  assert.equal(wheel.running, false);
});

Deno.test("TimerWheel: a slot emptied by cancels is reused without firing what was cancelled", () => {
  const { wheel, tick } = manual(10);
  const fired: string[] = [];
  // 100 arm-then-cancel pairs in the same slot (the hot path of a call with a deadline).
  for (let i = 0; i < 100; i++) {
    wheel.cancel(wheel.schedule(() => fired.push(`cancelled ${i}`), 25));
  }
  assert.equal(wheel.pending, 0);
  wheel.schedule(() => fired.push("kept"), 25);
  const dropped = wheel.schedule(() => fired.push("dropped"), 25);
  wheel.cancel(dropped);
  tick(1_030);
  assert.deepEqual(fired, ["kept"]);
  assert.equal(wheel.pending, 0);
  assert.equal(wheel.running, false);
});

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
      const fired: Array<[string, number]> = [];
      const keeper = stamped("keeper", fired, now);
      const a = stamped("a", fired, now);
      wheel.scheduleFromNow(keeper, firstMs); // idle wheel: stamped at 1000
      wheel.scheduleFromNow(a, firstMs);
      wheel.runDue(); // both placed in the same slot (or far bucket)
      wheel.cancel(a); // the keeper keeps the slot alive, so a's reference stays there
      wheel.scheduleFromNow(a, againMs); // re-armed: stamped by the next tick (at checkAt)
      t = checkAt; // every tick up to here runs
      wheel.runDue();
      assert.deepEqual(fired, [["keeper", checkAt]], `a fired early (${firstMs})`);
      assert.equal(wheel.pending, 1);
      t = checkAt + againMs - 10;
      wheel.runDue();
      assert.equal(fired.length, 1, "not before its new time");
      t = checkAt + againMs;
      wheel.runDue();
      assert.deepEqual(fired, [["keeper", checkAt], ["a", checkAt + againMs]]);
      assert.equal(wheel.pending, 0);
    } finally {
      wheel.stop();
    }
  }
});

// ---------------------------------------------------------------------------
// TimerWheel.scheduleFromNow / stamp / coarseNow (caller-allocated entries)
// ---------------------------------------------------------------------------

Deno.test("scheduleFromNow on an idle wheel reads the clock once, stamps with it and arms", async () => {
  const m = manual(10);
  try {
    const fired: Array<[string, number]> = [];
    const e = stamped("e", fired, m.now);
    m.wheel.scheduleFromNow(e, 25);
    assert.equal(m.reads.wheel, 1);
    assert.equal(e.start, 1_000);
    assert.equal(e.delayMs, 25);
    assert.equal(e.done, false);
    assert.equal(m.wheel.running, true);
    assert.equal(m.wheel.armCount, 1);
    assert.equal(m.wheel.pending, 1);
    assert.equal(m.wheel.stamp(e), 1_000, "already stamped");
    assert.equal(m.reads.wheel, 1, "stamp() of a stamped entry reads nothing");
    await m.at(1_020);
    await m.at(1_029);
    assert.deepEqual(fired, [], "due at 1025: not before the tick at 1030");
    await m.at(1_030);
    assert.deepEqual(fired, [["e", 1_030]]);
    assert.equal(e.done, true);
    assert.equal(m.wheel.pending, 0);
    assert.equal(m.wheel.running, false, "stops once nothing is pending");
    assert.equal(m.reads.wheel, 4, "one read to arm, one per tick");
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("scheduleFromNow on a running wheel reads no clock; the next tick stamps the start", async () => {
  const m = manual(10);
  try {
    const fired: Array<[string, number]> = [];
    m.wheel.schedule(() => fired.push(["keeper", m.now()]), 100_000);
    m.set(1_003);
    m.resetReads();
    const e = stamped("e", fired, m.now);
    m.wheel.scheduleFromNow(e, 50);
    assert.deepEqual(m.reads, { wheel: 0, clock: 0 });
    assert.ok(Number.isNaN(e.start), "not stamped yet");
    assert.equal(m.wheel.pending, 2);
    assert.equal(m.wheel.coarseNow(), 1_000, "the reading taken when the wheel armed");
    assert.equal(m.reads.wheel, 0);
    await m.at(1_010);
    assert.equal(e.start, 1_010, "stamped with the tick's time");
    assert.equal(m.wheel.coarseNow(), 1_010);
    assert.equal(m.reads.wheel, 1);
    for (let t = 1_011; t < 1_060; t++) await m.at(t);
    assert.deepEqual(fired, [], "never before start + delay (1060), let alone 1003 + 50");
    await m.at(1_060);
    assert.deepEqual(fired, [["e", 1_060]]);
    assert.equal(m.wheel.pending, 1);
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("stamp() fixes the start before the tick (one clock read) and the tick keeps it", async () => {
  const m = manual(10);
  try {
    const fired: Array<[string, number]> = [];
    m.wheel.schedule(() => {}, 100_000);
    m.set(1_003);
    m.resetReads();
    const a = stamped("a", fired, m.now);
    const b = stamped("b", fired, m.now);
    m.wheel.scheduleFromNow(a, 55);
    m.wheel.scheduleFromNow(b, 55);
    assert.equal(m.wheel.stamp(a), 1_003);
    assert.equal(m.reads.wheel, 1);
    m.set(1_007);
    assert.equal(m.wheel.stamp(a), 1_003, "a second stamp() keeps the first");
    assert.equal(m.reads.wheel, 1);
    await m.at(1_010);
    assert.equal(a.start, 1_003);
    assert.equal(b.start, 1_010);
    await m.at(1_050);
    assert.deepEqual(fired, []);
    await m.at(1_060); // a is due at 1058, b at 1065
    assert.deepEqual(fired, [["a", 1_060]]);
    await m.at(1_069);
    assert.deepEqual(fired, [["a", 1_060]]);
    await m.at(1_070);
    assert.deepEqual(fired, [["a", 1_060], ["b", 1_070]]);
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("scheduleFromNow: a late tick stamps with its own time, so the entry never fires early", async () => {
  const m = manual(10);
  try {
    const fired: Array<[string, number]> = [];
    m.wheel.schedule(() => {}, 100_000);
    m.set(1_003);
    const e = stamped("e", fired, m.now);
    m.wheel.scheduleFromNow(e, 20);
    await m.at(1_047); // the event loop was blocked: the first tick comes late
    assert.equal(e.start, 1_047);
    assert.deepEqual(fired, []);
    await m.at(1_060);
    assert.deepEqual(fired, []);
    await m.at(1_070);
    assert.deepEqual(fired, [["e", 1_070]]);
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("scheduleFromNow from inside a wheel callback is stamped by the following tick", async () => {
  const m = manual(10);
  try {
    const fired: Array<[string, number]> = [];
    const e = stamped("e", fired, m.now);
    m.wheel.schedule(() => m.wheel.scheduleFromNow(e, 10), 10);
    await m.at(1_010);
    assert.ok(Number.isNaN(e.start), "the tick stamped its fresh entries before the callbacks");
    assert.equal(m.wheel.pending, 1);
    await m.at(1_020);
    assert.equal(e.start, 1_020);
    assert.deepEqual(fired, []);
    await m.at(1_030);
    assert.deepEqual(fired, [["e", 1_030]]);
    assert.equal(m.wheel.running, false);
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("cancel() drops a fresh entry: it is never stamped or fired, the others are", async () => {
  const m = manual(10);
  try {
    const fired: Array<[string, number]> = [];
    const keeper = m.wheel.schedule(() => {}, 100_000);
    m.set(1_003);
    const a = stamped("a", fired, m.now);
    const b = stamped("b", fired, m.now);
    m.wheel.scheduleFromNow(a, 10);
    m.wheel.scheduleFromNow(b, 10);
    m.wheel.cancel(a);
    assert.equal(a.done, true);
    assert.equal(m.wheel.pending, 2);
    m.wheel.cancel(a); // twice is harmless
    assert.equal(m.wheel.pending, 2);
    await m.at(1_010);
    assert.ok(Number.isNaN(a.start), "a cancelled entry is not stamped");
    assert.equal(b.start, 1_010);
    await m.at(1_020);
    assert.deepEqual(fired, [["b", 1_020]]);

    // Cancelling every fresh entry empties the list; entries scheduled next still fire.
    const c = stamped("c", fired, m.now);
    const d = stamped("d", fired, m.now);
    m.wheel.scheduleFromNow(c, 10);
    m.wheel.cancel(c);
    m.wheel.scheduleFromNow(d, 10);
    assert.equal(m.wheel.pending, 2);
    await m.at(1_030);
    await m.at(1_040);
    assert.deepEqual(fired, [["b", 1_020], ["d", 1_040]]);
    assert.ok(Number.isNaN(c.start));

    // A fresh entry cancelled last leaves the wheel idle once the macrotask ends.
    const f = stamped("f", fired, m.now);
    m.wheel.scheduleFromNow(f, 10);
    m.wheel.cancel(keeper);
    m.wheel.cancel(f);
    assert.equal(m.wheel.pending, 0);
    assert.equal(m.wheel.running, true, "the idle check waits for the macrotask to end");
    await macrotask();
    assert.equal(m.wheel.running, false);
    assert.equal(fired.length, 2);
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("a cancelled fresh entry scheduled again fires once", async () => {
  const m = manual(10);
  try {
    const fired: Array<[string, number]> = [];
    m.wheel.schedule(() => {}, 100_000);
    const a = stamped("a", fired, m.now);
    const b = stamped("b", fired, m.now);
    m.wheel.scheduleFromNow(a, 10);
    m.wheel.scheduleFromNow(b, 10);
    m.wheel.cancel(a);
    m.wheel.scheduleFromNow(a, 10);
    assert.equal(m.wheel.pending, 3);
    await m.at(1_010);
    await m.at(1_020);
    assert.deepEqual(fired, [["a", 1_020], ["b", 1_020]]);
    assert.equal(m.wheel.pending, 1, "only the keeper is left");
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("stop() forgets fresh entries: they never fire and cancelling them later is harmless", async () => {
  const m = manual(10);
  try {
    const fired: Array<[string, number]> = [];
    m.wheel.schedule(() => fired.push(["keeper", m.now()]), 30);
    const a = stamped("a", fired, m.now);
    m.wheel.scheduleFromNow(a, 10);
    m.wheel.stop();
    assert.equal(m.wheel.pending, 0);
    assert.equal(m.wheel.running, false);
    m.wheel.cancel(a);
    assert.equal(m.wheel.pending, 0);
    m.set(1_005);
    m.resetReads();
    const b = stamped("b", fired, m.now);
    m.wheel.scheduleFromNow(b, 10); // the wheel is idle again: it reads and stamps
    assert.equal(m.reads.wheel, 1);
    assert.equal(b.start, 1_005);
    assert.equal(m.wheel.pending, 1);
    await m.at(1_010);
    await m.at(1_020);
    await m.at(1_030);
    assert.deepEqual(fired, [["b", 1_020]]);
    assert.equal(m.wheel.running, false);
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("coarseNow() returns the latest reading while running and reads the clock when idle", async () => {
  const m = manual(10);
  try {
    assert.equal(m.wheel.coarseNow(), 1_000);
    m.set(1_005);
    assert.equal(m.wheel.coarseNow(), 1_005);
    assert.equal(m.reads.wheel, 2);
    m.wheel.schedule(() => {}, 100); // arms with a reading of 1005
    m.set(1_008);
    m.resetReads();
    assert.equal(m.wheel.coarseNow(), 1_005);
    assert.equal(m.reads.wheel, 0);
    await m.at(1_012);
    m.set(1_019);
    assert.equal(m.wheel.coarseNow(), 1_012);
    assert.equal(m.reads.wheel, 1, "only the tick read the clock");
    m.wheel.stop();
    assert.equal(m.wheel.coarseNow(), 1_019);
    assert.equal(m.reads.wheel, 2);
  } finally {
    await finish(m.wheel);
  }
});

Deno.test("TimerWheel: a timer of 2^31 ms or more (past what a runtime timer keeps) waits in the far bucket until due", () => {
  const { wheel, tick, now } = manual(1_000);
  const fired: Array<[string, number]> = [];
  const thirtyDays = 30 * 86_400_000;
  wheel.schedule(() => fired.push(["2^31", now()]), 2 ** 31);
  wheel.scheduleAt(() => fired.push(["30 days", now()]), 1_000 + thirtyDays);
  tick(2_000);
  tick(1_000 + 2 ** 31 - 1);
  assert.equal(fired.length, 0);
  tick(1_000 + 2 ** 31 + 1_000); // within a tick after it is due
  tick(1_000 + thirtyDays - 1);
  assert.deepEqual(fired, [["2^31", 1_000 + 2 ** 31 + 1_000]]);
  tick(1_000 + thirtyDays);
  assert.deepEqual(fired, [["2^31", 1_000 + 2 ** 31 + 1_000], ["30 days", 1_000 + thirtyDays]]);
  assert.equal(wheel.running, false);
});
