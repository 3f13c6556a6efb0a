/**
 * A failure budget watching two minutes of simulated traffic (10 requests a
 * second) to a service whose failure rate climbs from 1 % to 20 % for half a
 * minute and then falls back. The budget allows 5 % over a 30 s window; it
 * reports the breach when the rate crosses 5 % and the recovery once the bad
 * half minute has aged out of the window. The window is 10 buckets of 3 s,
 * so it holds the last 27 to 30 s of calls (about 271 of them here).
 *
 * The traffic runs on a virtual clock with a seeded random source, so the
 * demo is instant and prints the same thing every time.
 *
 * Run: deno run examples/failure_budget.ts
 */
import { FailureBudget, type ResilienceEvent, seededRandom } from "../mod.ts";
import { VirtualClock } from "../testing.ts";

const clock = new VirtualClock();
const random = seededRandom(7);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`.padStart(7);
const percent = (rate: number) => `${(rate * 100).toFixed(1)} %`;

const budget = new FailureBudget({
  name: "checkout",
  threshold: 0.05,
  windowMs: 30_000,
  minSamples: 50,
  clock,
  onBreach({ name, rate, samples }) {
    console.log(`${seconds(clock.now())}  onBreach: ${name} at ${percent(rate)} of ${samples}`);
  },
  onEvent(event: ResilienceEvent) {
    if (event.type === "failure_budget_breach" || event.type === "failure_budget_recovered") {
      console.log(
        `${seconds(event.timestamp)}  ${event.type}: ${
          percent(event.rate)
        } of ${event.samples} calls (threshold ${percent(event.threshold)})`,
      );
    }
  },
});

/** The service's failure rate at time `ms`: 1 %, then 20 % from 30 s to 60 s. */
const failureRate = (ms: number) => (ms >= 30_000 && ms < 60_000 ? 0.2 : 0.01);

for (let ms = 0; ms < 120_000; ms += 100) {
  budget.record(random() < failureRate(ms));
  if (ms > 0 && ms % 15_000 === 0) {
    console.log(
      `${seconds(ms)}  rate over the window ${
        percent(budget.failureRate())
      } (${budget.samples()} calls)${budget.isBreached() ? ", BREACHED" : ""}`,
    );
  }
  await clock.advance(100);
}
console.log(`${seconds(clock.now())}  breached at the end: ${budget.isBreached()}`);
