import assert from "node:assert/strict";
import { RollingWindow } from "../../src/core/rolling_window.ts";
import { seededRandom } from "../../src/core/random.ts";
import { VirtualClock } from "../../testing.ts";

/**
 * The model the running totals must agree with: every count is kept with its
 * bucket number, and a sum adds those of the current bucket and the
 * `buckets - 1` before it (the bucket number never moving back).
 */
class NaiveWindow {
  readonly entries: { epoch: number; counter: number; amount: number }[] = [];
  head = -Infinity;
  constructor(readonly widthMs: number, readonly buckets: number) {}
  #epoch(now: number): number {
    this.head = Math.max(this.head, Math.floor(now / this.widthMs));
    return this.head;
  }
  add(counter: number, amount: number, now: number): void {
    this.entries.push({ epoch: this.#epoch(now), counter, amount });
  }
  sum(counter: number, now: number): number {
    const epoch = this.#epoch(now);
    return this.entries
      .filter((e) => e.counter === counter && e.epoch > epoch - this.buckets)
      .reduce((total, e) => total + e.amount, 0);
  }
}

Deno.test("RollingWindow: running totals equal a naive sum over 20,000 random steps", () => {
  for (const [windowMs, buckets] of [[1_000, 10], [300, 1], [1_000, 3], [90, 7]]) {
    const random = seededRandom(windowMs + buckets);
    const clock = new VirtualClock();
    const window = new RollingWindow({ windowMs, buckets, counters: 2, clock });
    const naive = new NaiveWindow(windowMs / buckets, buckets);
    let now = 0;
    for (let step = 0; step < 5_000; step++) {
      const r = random();
      // Mostly small steps, sometimes a jump past the whole window, and
      // sometimes a clock that reads earlier than before.
      now += r < 0.05 ? windowMs * 3 : r < 0.1 ? -windowMs / 2 : Math.floor(random() * 40);
      const counter = random() < 0.5 ? 0 : 1;
      if (random() < 0.6) {
        const amount = 1 + Math.floor(random() * 3);
        window.add(counter, amount, now);
        naive.add(counter, amount, now);
      }
      assert.equal(window.sum(counter, now), naive.sum(counter, now), `step ${step} at ${now}`);
    }
  }
});

Deno.test("RollingWindow: clear() forgets every count and the window keeps counting", () => {
  const clock = new VirtualClock();
  const window = new RollingWindow({ windowMs: 100, buckets: 4, counters: 1, clock });
  window.add(0, 5, 10);
  window.add(0, 2, 60);
  window.clear();
  assert.equal(window.sum(0, 60), 0);
  window.add(0, 1, 70);
  assert.equal(window.sum(0, 70), 1);
  assert.equal(window.sum(0, 175), 0);
});

Deno.test("RollingWindow: a non-finite time (a broken clock) counts into the newest bucket", () => {
  const clock = new VirtualClock();
  const window = new RollingWindow({ windowMs: 100, buckets: 4, counters: 1, clock });
  window.add(0, 1, 10);
  window.add(0, 1, Infinity); // must return, not loop forever
  window.add(0, 1, NaN);
  assert.equal(window.sum(0, 10), 3);
  assert.equal(window.sum(0, 200), 0, "time still moves the window on");
});

Deno.test("RollingWindow: peek() reads the window at a time without moving it", () => {
  for (const [windowMs, buckets] of [[1_000, 10], [300, 1], [90, 7]]) {
    const random = seededRandom(windowMs * buckets);
    const window = new RollingWindow({ windowMs, buckets, counters: 2 });
    const naive = new NaiveWindow(windowMs / buckets, buckets);
    let now = 0;
    for (let step = 0; step < 5_000; step++) {
      const r = random();
      now += r < 0.05 ? windowMs * 3 : r < 0.1 ? -windowMs / 2 : Math.floor(random() * 40);
      const counter = random() < 0.5 ? 0 : 1;
      const amount = 1 + Math.floor(random() * 3);
      window.add(counter, amount, now);
      naive.add(counter, amount, now);
      // A look ahead: what the sum will be at a later time, with nothing moved.
      const later = now + Math.floor(random() * windowMs * 1.5);
      const head = naive.head;
      const expected = naive.sum(counter, later);
      naive.head = head;
      assert.equal(window.peek(counter, later), expected, `step ${step}: peek at ${later}`);
      assert.equal(window.peek(counter, now), naive.sum(counter, now), `step ${step}: now`);
    }
  }
});

Deno.test("RollingWindow: head, slots() and load() save and restore the whole state", () => {
  const window = new RollingWindow({ windowMs: 400, buckets: 4, counters: 2 });
  assert.equal(window.head, null);
  assert.equal(window.widthMs, 100);
  assert.equal(window.bucketCount, 4);
  window.add(0, 1, 50); // bucket 0
  window.add(1, 2, 150); // bucket 1
  window.add(0, 3, 520); // bucket 5, slot 1: bucket 1 is forgotten
  assert.equal(window.head, 5);
  assert.deepEqual(window.slots(0), [0, 3, 0, 0]);
  assert.deepEqual(window.slots(1), [0, 0, 0, 0]);

  const copy = new RollingWindow({ windowMs: 400, buckets: 4, counters: 2 });
  copy.load(window.head!, [window.slots(0), window.slots(1)]);
  assert.equal(copy.head, 5);
  assert.equal(copy.peek(0, 520), 3);
  copy.add(1, 1, 530); // the same bucket as head
  assert.deepEqual(copy.slots(1), [0, 1, 0, 0]);
  assert.equal(copy.sum(0, 899), 3);
  assert.equal(copy.sum(0, 900), 0);

  // a negative head lands in the right slot
  const negative = new RollingWindow({ windowMs: 400, buckets: 4, counters: 1 });
  negative.load(-3, [[0, 7, 0, 0]]);
  assert.equal(negative.peek(0, -250), 7);
  assert.equal(negative.peek(0, 100), 0);

  copy.clear();
  assert.equal(copy.head, null);
  assert.deepEqual(copy.slots(0), [0, 0, 0, 0]);
});

Deno.test("RollingWindow: without a clock every call must pass the time", () => {
  const window = new RollingWindow({ windowMs: 100, buckets: 2, counters: 1 });
  window.add(0, 1, 0);
  assert.equal(window.sum(0, 0), 1);
  assert.throws(
    () => window.add(0),
    (e: unknown) =>
      e instanceof TypeError &&
      e.message === "now must be passed to a RollingWindow built without a clock",
  );
  assert.throws(() => window.sum(0), TypeError);
});

Deno.test("RollingWindow: addTwo() counts one event in two counters, or in one with -1", () => {
  const window = new RollingWindow({ windowMs: 100, buckets: 2, counters: 3 });
  window.addTwo(10, 0, 2);
  window.addTwo(20, 0, -1);
  assert.deepEqual([0, 1, 2].map((c) => window.sum(c, 20)), [2, 0, 1]);
  window.addTwo(160, 0, 1); // moves the window: the bucket of t = 10 and 20 goes
  assert.deepEqual([0, 1, 2].map((c) => window.sum(c, 160)), [1, 1, 0]);
});

Deno.test("RollingWindow: counters is 1 to 3 (the newest bucket's counts are fields)", () => {
  assert.throws(() => new RollingWindow({ windowMs: 100, buckets: 2, counters: 4 }), {
    name: "RangeError",
    message: "counters must be an integer between 1 and 3: received 4",
  });
});

Deno.test("RollingWindow: counts still in the newest bucket are in slots(), peek() and a load()ed copy", () => {
  const window = new RollingWindow({ windowMs: 400, buckets: 4, counters: 3 });
  window.addTwo(50, 0, 2);
  window.add(1, 2, 150);
  window.addTwo(160, 0, -1);
  // Bucket 1 (100..199) is the newest: its counts were never written to the array before slots().
  assert.deepEqual([window.slots(0), window.slots(1), window.slots(2)], [
    [1, 1, 0, 0],
    [0, 2, 0, 0],
    [1, 0, 0, 0],
  ]);
  window.add(0, 1, 170); // after slots(): still counted once
  assert.equal(window.sum(0, 170), 3);
  // At 450 bucket 0 (0..99) has left the window; bucket 1 has not.
  assert.equal(window.peek(0, 450), 2);
  assert.equal(window.peek(2, 450), 0);
  const copy = new RollingWindow({ windowMs: 400, buckets: 4, counters: 3 });
  copy.load(window.head!, [window.slots(0), window.slots(1), window.slots(2)]);
  assert.deepEqual([copy.sum(0, 170), copy.sum(1, 170), copy.sum(2, 170)], [3, 2, 1]);
  assert.deepEqual([copy.sum(0, 520), copy.sum(1, 520), copy.sum(2, 520)], [0, 0, 0]);
  assert.deepEqual([window.sum(0, 450), window.sum(1, 450), window.sum(2, 450)], [2, 2, 0]);
});
