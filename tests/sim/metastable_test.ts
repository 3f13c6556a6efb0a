import assert from "node:assert/strict";
import { runScenario, type SimulationReport } from "@bulwark/bulwark/sim";

// examples/scenarios/retry_storm.json: a ~100 req/s server (exponential 10 ms, one worker,
// deep FIFO queue) under 60 req/s; 1 s attempt timeout, 4 attempts; 2x slower from 10 s to
// 20 s. Four copies: plain, retry budget (ratio 0.1), cancelOnClientTimeout, both.
const OFFERED = 60;
let cached: SimulationReport | undefined;
async function storm(): Promise<SimulationReport> {
  cached ??= await runScenario(
    await Deno.readTextFile(
      new URL("../../examples/scenarios/retry_storm.json", import.meta.url),
    ),
  );
  return cached;
}

/** Mean goodput (calls succeeded per second) over seconds [from, to). */
function goodput(report: SimulationReport, client: string, from: number, to: number): number {
  const rows = report.clients[client].timeline.slice(from, to);
  return rows.reduce((sum, row) => sum + row.succeeded, 0) / rows.length;
}

Deno.test("metastable failure: without a retry budget goodput stays below half the offered load long after the slowdown ends", async () => {
  const report = await storm();
  assert.ok(goodput(report, "plain", 0, 10) > 0.9 * OFFERED);
  // The trigger ends at 20 s; 20 to 70 s later the server still serves abandoned requests.
  assert.ok(goodput(report, "plain", 40, 90) < OFFERED / 2, `${goodput(report, "plain", 40, 90)}`);
  assert.equal(goodput(report, "plain", 40, 90), 0);
  const server = report.servers.plain;
  assert.ok(server.maxQueued > 5_000, `queue ${server.maxQueued}`);
  assert.equal(server.served, server.received); // every one served, almost none useful
  assert.ok(report.clients.plain.amplification > 3);
});

Deno.test("metastable failure: with retryBudget { ratio: 0.1 } goodput recovers within 15 s", async () => {
  const report = await storm();
  const rows = report.clients.budget.timeline;
  for (const row of rows.slice(35, 90)) {
    assert.ok(row.succeeded >= 30, `second ${row.t}: ${row.succeeded}`);
  }
  assert.ok(goodput(report, "budget", 35, 90) > 0.9 * OFFERED);
  assert.ok(report.clients.budget.amplification < 1.1);
});

Deno.test("metastable failure: dropping abandoned requests (cancelOnClientTimeout) recovers at once, alone and with the budget", async () => {
  const report = await storm();
  for (const client of ["cancel", "budget+cancel"]) {
    // Still serving during the slowdown, where the plain server serves nobody in time.
    assert.ok(goodput(report, client, 12, 20) > 30, `${client} ${goodput(report, client, 12, 20)}`);
    assert.ok(goodput(report, client, 25, 90) > 0.9 * OFFERED, client);
    assert.ok(report.servers[client].dropped > 0);
  }
  assert.ok(goodput(report, "plain", 17, 20) < 5);
  // With the budget on top, fewer retries and fewer calls fail.
  const cancel = report.clients.cancel.stats;
  const both = report.clients["budget+cancel"].stats;
  assert.ok(both.retries < cancel.retries / 5, `${both.retries} vs ${cancel.retries}`);
  assert.ok(both.failed <= cancel.failed);
});
