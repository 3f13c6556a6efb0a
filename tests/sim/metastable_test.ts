import assert from "node:assert/strict";
import { runScenario, type SimulationReport } from "@bulwark/bulwark/sim";

// examples/scenarios/retry_storm.json: a ~100 req/s server (exponential 10 ms, one worker,
// deep FIFO queue) under 60 req/s; 1 s attempt timeout, 4 attempts; 2.5x slower from 10 s to
// 20 s. Four copies: plain, retry budget (ratio 0.1), cancelOnClientTimeout, both.
// Every claim is checked for each of the seeds 1 to 10.
const OFFERED = 60;
const SEEDS = Array.from({ length: 10 }, (_, i) => i + 1);
let cached: SimulationReport[] | undefined;
async function storms(): Promise<SimulationReport[]> {
  if (cached === undefined) {
    const text = await Deno.readTextFile(
      new URL("../../examples/scenarios/retry_storm.json", import.meta.url),
    );
    cached = [];
    for (const seed of SEEDS) cached.push(await runScenario({ ...JSON.parse(text), seed }));
  }
  return cached;
}

/** Mean goodput (calls succeeded per second) over seconds [from, to). */
function goodput(report: SimulationReport, client: string, from: number, to: number): number {
  const rows = report.clients[client].timeline.slice(from, to);
  return rows.reduce((sum, row) => sum + row.succeeded, 0) / rows.length;
}

Deno.test("metastable failure: without a retry budget goodput collapses and stays at zero long after the slowdown ends (seeds 1-10)", async () => {
  for (const report of await storms()) {
    const at = `seed ${report.seed}`;
    assert.ok(goodput(report, "plain", 0, 10) > 0.9 * OFFERED, at);
    // The trigger ends at 20 s; 20 to 70 s later the server still serves abandoned requests.
    assert.equal(goodput(report, "plain", 40, 90), 0, at);
    const server = report.servers.plain;
    assert.ok(server.maxQueued > 10_000, `${at}: queue ${server.maxQueued}`);
    assert.equal(server.served, server.received, at); // every one served, almost none useful
    assert.ok(report.clients.plain.amplification > 3.5, at);
  }
});

Deno.test("metastable failure: with retryBudget { ratio: 0.1 } goodput recovers within 15 s (seeds 1-10)", async () => {
  for (const report of await storms()) {
    const at = `seed ${report.seed}`;
    for (const row of report.clients.budget.timeline.slice(35, 90)) {
      assert.ok(row.succeeded >= 30, `${at}, second ${row.t}: ${row.succeeded}`);
    }
    assert.ok(goodput(report, "budget", 35, 90) > 0.95 * OFFERED, at);
    assert.ok(report.clients.budget.amplification < 1.1, at);
  }
});

Deno.test("metastable failure: dropping abandoned requests (cancelOnClientTimeout) keeps serving and recovers at once, alone and with the budget (seeds 1-10)", async () => {
  for (const report of await storms()) {
    const at = `seed ${report.seed}`;
    for (const client of ["cancel", "budget+cancel"]) {
      // Still serving during the slowdown, where the plain server serves almost nobody in time.
      assert.ok(goodput(report, client, 12, 20) > 30, `${at} ${client}`);
      for (const row of report.clients[client].timeline.slice(22, 90)) {
        assert.ok(row.succeeded >= 30, `${at} ${client}, second ${row.t}: ${row.succeeded}`);
      }
      assert.ok(goodput(report, client, 25, 90) > 0.95 * OFFERED, `${at} ${client}`);
      assert.ok(report.servers[client].dropped > 0, at);
    }
    assert.ok(goodput(report, "plain", 12, 20) < 15, at);
    // The budget on top sends fewer retries, and refuses some that would have succeeded:
    // more calls fail than with cancelling alone.
    const cancel = report.clients.cancel.stats;
    const both = report.clients["budget+cancel"].stats;
    assert.ok(both.retries < cancel.retries, `${at}: ${both.retries} vs ${cancel.retries}`);
    assert.ok(both.failed > cancel.failed, `${at}: ${both.failed} vs ${cancel.failed}`);
  }
});
