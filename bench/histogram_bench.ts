/**
 * Cost of `LatencyHistogram.record()` per value, against a loop body that
 * only reads the value, and against keeping raw samples in a preallocated
 * array (what an exact-percentile approach would do). Also the cost of a
 * percentile query. Run with `deno bench bench/histogram_bench.ts`.
 */
import { LatencyHistogram } from "../src/core/latency_histogram.ts";
import { seededRandom } from "../src/core/random.ts";

const SIZE = 1 << 16; // power of two: the index wraps with a mask
const MASK = SIZE - 1;

// Log-uniform latencies from 0.1 ms to about 20 s, computed ahead of time.
const random = seededRandom(1);
const values = Float64Array.from({ length: SIZE }, () => Math.exp(Math.log(0.1) + 12 * random()));

let i = 0;
// Results go into a typed array: a `let` holding a float would box every store.
const sink = new Float64Array(1);

Deno.bench(
  { name: "read value (loop body only)", group: "histogram record", baseline: true },
  () => {
    sink[0] = values[i++ & MASK];
  },
);

const samples = new Float64Array(SIZE);
Deno.bench({ name: "store in preallocated sample array", group: "histogram record" }, () => {
  const j = i++ & MASK;
  samples[j] = values[j];
});

const histogram = new LatencyHistogram();
Deno.bench({ name: "LatencyHistogram.record()", group: "histogram record" }, () => {
  histogram.record(values[i++ & MASK]);
});

const fine = new LatencyHistogram({ relativeError: 0.001 });
Deno.bench({ name: "LatencyHistogram.record() at 0.1 %", group: "histogram record" }, () => {
  fine.record(values[i++ & MASK]);
});

const filled = new LatencyHistogram();
for (const value of values) filled.record(value);
Deno.bench({ name: "percentile(99) over 1,102 buckets", group: "histogram query" }, () => {
  sink[0] = filled.percentile(99);
});

Deno.bench({ name: "percentile(50) over 1,102 buckets", group: "histogram query" }, () => {
  sink[0] = filled.percentile(50);
});
