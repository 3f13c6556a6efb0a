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
