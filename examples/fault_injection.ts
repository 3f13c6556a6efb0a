/**
 * Chaos against a local upstream: a network conditioner installed over
 * `globalThis.fetch` drops, delays and fails requests to 127.0.0.1, and a
 * retrying policy gets every call through anyway. A seeded random source
 * makes the run the same every time.
 *
 * Run: deno run --allow-net=127.0.0.1 examples/fault_injection.ts
 */
import {
  constant,
  faultInjection,
  installNetworkConditioner,
  policy,
  type ResilienceEvent,
  seededRandom,
} from "../mod.ts";

const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
  return new Response(`order ${new URL(req.url).searchParams.get("id")} ok`);
});
const base = `http://127.0.0.1:${server.addr.port}`;

const faults = { latency: 0, loss: 0, error: 0 };
const onFault = (e: ResilienceEvent) => {
  if (e.type === "fault_injected") faults[e.fault]++;
};

const orders = policy("orders", {
  telemetry: false,
  deadlineMs: 5_000,
  retry: { maxAttempts: 8, backoff: constant(10) },
  onEvent: (e) => {
    if (e.type === "retry") {
      const what = e.error instanceof Response ? `HTTP ${e.error.status}` : String(e.error);
      console.log(`  retry after attempt ${e.attempt}: ${e.errorClass} (${what})`);
    }
  },
});

try {
  {
    // Only requests to the upstream are conditioned; the block restores fetch.
    using _network = installNetworkConditioner({
      name: "flaky-network",
      latencyMs: 5,
      jitterMs: 20,
      lossRate: 0.2,
      errorRate: 0.25,
      urlFilter: base,
      random: seededRandom(2024),
      onEvent: onFault,
    });
    for (let id = 1; id <= 6; id++) {
      const started = performance.now();
      const res = await orders.execute(({ signal }) =>
        fetch(`${base}/orders?id=${id}`, { signal })
      );
      const body = await res.text();
      console.log(`${body} in ${(performance.now() - started).toFixed(0)} ms`);
    }
  }
  console.log(
    `network faults injected: ${faults.latency} delays, ${faults.loss} losses, ${faults.error} errors`,
  );

  // The same idea for any async function: one call in three fails.
  const lookup = faultInjection(
    (id: number) => Promise.resolve({ id, name: `customer ${id}` }),
    { name: "customers-db", errorRate: 1 / 3, random: seededRandom(7), onEvent: onFault },
  );
  for (let id = 1; id <= 3; id++) {
    const customer = await orders.execute(() => lookup(id));
    console.log(`found ${customer.name}`);
  }
  console.log(`function faults injected: ${faults.error} errors so far`);
} finally {
  await server.shutdown();
}
