import assert from "node:assert/strict";
import { renderHtmlReport, runScenario, type SimulationReport } from "@bulwark/bulwark/sim";

const ROOT = new URL("../../", import.meta.url);

async function deadlineReport(): Promise<SimulationReport> {
  const text = await Deno.readTextFile(
    new URL("examples/scenarios/deadline_propagation.json", ROOT),
  );
  return await runScenario(text, { durationMs: 8_000 });
}

/** The `points` of every polyline of one series inside `svg`, concatenated. */
function seriesPoints(svg: string, series: string): [number, number][] {
  const out: [number, number][] = [];
  const re = new RegExp(`<polyline data-series="${series}"[^>]* points="([^"]*)"`, "g");
  for (const m of svg.matchAll(re)) {
    for (const pair of m[1].split(" ")) {
      const [x, y] = pair.split(",").map(Number);
      out.push([x, y]);
    }
  }
  return out;
}

Deno.test("the HTML report has one SVG chart per section, each with the run's data points", async () => {
  const report = await deadlineReport();
  const html = renderHtmlReport(report, {
    title: "deadline <propagation>",
    markers: [{ atMs: 5_000, label: "5 s" }],
  });
  assert.match(html, /^<!doctype html>/);
  assert.match(html, /<title>deadline &#60;propagation&#62;<\/title>/);
  assert.doesNotMatch(html, /<script|https?:\/\/(?!www\.w3\.org)/); // self-contained
  const sections = [...html.matchAll(/<section id="([^"]+)">([\s\S]*?)<\/section>/g)];
  assert.deepEqual(sections.map((s) => s[1]), [
    "goodput",
    "latency",
    "amplification",
    "circuit",
    "servers",
    "summary",
  ]);
  const svg = Object.fromEntries(sections.map((s) => [s[1], s[2]]));
  for (const id of ["goodput", "latency", "amplification", "circuit", "servers"]) {
    assert.equal(svg[id].match(/<svg /g)?.length, 1, id);
  }
  // Every row but the trailing ones where nothing happened (here the empty row of endMs).
  const rows = shownRows(report);
  assert.equal(rows, report.clients.ignored.timeline.length - 1);
  assert.equal(seriesPoints(svg.goodput, "ignored: succeeded/s").length, rows);
  assert.equal(seriesPoints(svg.goodput, "ignored: offered/s").length, rows);
  assert.equal(
    seriesPoints(svg.amplification, "propagated: attempts/s \\(x[0-9.]+ overall\\)").length,
    rows,
  );
  // p99 is missing (a gap) only in seconds where no call settled.
  const settled = report.clients.propagated.timeline.slice(0, rows).filter((r) => r.p99 !== null)
    .length;
  assert.equal(seriesPoints(svg.latency, "propagated: p99 \\(ms\\)").length, settled);
  // A step chart: two points per change of second after the first.
  assert.equal(seriesPoints(svg.circuit, "ignored").length, 2 * rows - 1);
  assert.equal(
    seriesPoints(svg.servers, "ignored: queued").length,
    rows,
  );
  // Higher goodput is drawn higher (smaller y).
  const ys = seriesPoints(svg.goodput, "ignored: succeeded/s").map((p) => p[1]);
  const values = report.clients.ignored.timeline.slice(0, rows).map((r) => r.succeeded);
  const hi = values.indexOf(Math.max(...values));
  const lo = values.indexOf(Math.min(...values));
  assert.ok(ys[hi] < ys[lo]);
  assert.match(svg.summary, /<td>ignored<\/td><td>\d+<\/td>/);
});

/** Timeline rows up to the last one in which anything happened. */
function shownRows(report: SimulationReport): number {
  let n = 0;
  for (const c of Object.values(report.clients)) {
    c.timeline.forEach((r, i) => {
      if (r.started + r.succeeded + r.failed + r.attempts > 0) n = Math.max(n, i + 1);
    });
  }
  for (const s of Object.values(report.servers)) {
    s.timeline.forEach((r, i) => {
      if (r.served + r.queued + r.busy > 0) n = Math.max(n, i + 1);
    });
  }
  return n;
}

Deno.test("the HTML report's charts run to the end of the drain (jitter_herd: a herd at 0 s, retries for 56 s)", async () => {
  const report = await runScenario(
    await Deno.readTextFile(new URL("examples/scenarios/jitter_herd.json", ROOT)),
  );
  const html = renderHtmlReport(report);
  const timeline = report.clients["no-jitter"].timeline;
  const rows = shownRows(report);
  assert.ok(rows > 50, `${rows} rows`); // the last client is done after 56 s
  const drawn = seriesPoints(html, "no-jitter: succeeded/s");
  assert.equal(drawn.length, rows);
  // Every success is drawn: the points' rows add up to the total.
  assert.equal(
    timeline.slice(0, drawn.length).reduce((sum, r) => sum + r.succeeded, 0),
    report.clients["no-jitter"].stats.succeeded,
  );
  assert.equal(seriesPoints(html, "no-jitter: queued").length, rows);
});

Deno.test("without a circuit breaker the circuit section says so and draws no chart", async () => {
  const report = await runScenario({
    durationMs: 2_000,
    servers: { db: { latency: { kind: "constant", ms: 5 } } },
    clients: { web: { target: "db" } },
    loads: [{ kind: "constant", client: "web", ratePerSecond: 10 }],
  });
  const html = renderHtmlReport(report);
  const circuit = html.match(/<section id="circuit">([\s\S]*?)<\/section>/)![1];
  assert.equal(
    circuit,
    "<h2>Circuit state over time</h2><p>No client has a circuit breaker.</p>",
  );
  assert.equal(html.match(/<svg /g)?.length, 4);
});

Deno.test("chart tick labels are plain decimals, without floating-point noise", async () => {
  const report = await runScenario({
    durationMs: 3_000,
    servers: { db: { latency: { kind: "constant", ms: 5 } } },
    clients: { web: { target: "db" } },
    loads: [{ kind: "constant", client: "web", ratePerSecond: 1 }],
  });
  const svg = renderHtmlReport(report).match(/<section id="goodput">([\s\S]*?)<\/section>/)![1];
  const labels = [...svg.matchAll(/text-anchor="(?:end|middle)">([0-9.]+)</g)].map((m) => m[1]);
  // y: 0 to 1 call/s in steps of 0.5; x: 0 to 2 s in steps of 0.2 (0.2 added up five times
  // is 1.0000000000000002, which once showed as "1.").
  assert.deepEqual(labels, [
    ...["0", "0.5", "1"],
    ...["0", "0.2", "0.4", "0.6", "0.8", "1", "1.2", "1.4", "1.6", "1.8", "2"],
  ]);
});

async function hasChromium(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("chromium", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "headless Chromium renders the HTML report to a picture",
  ignore: !(await hasChromium()),
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const html = `${dir}/report.html`;
      const png = `${dir}/report.png`;
      await Deno.writeTextFile(html, renderHtmlReport(await deadlineReport()));
      const { success, stderr } = await new Deno.Command("chromium", {
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-background-networking",
          "--no-first-run",
          `--user-data-dir=${dir}/profile`,
          "--hide-scrollbars",
          "--window-size=1000,1400",
          `--screenshot=${png}`,
          `file://${html}`,
        ],
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.ok(success, new TextDecoder().decode(stderr));
      const bytes = await Deno.readFile(png);
      // PNG signature, then IHDR with the window's size.
      assert.deepEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47]);
      const view = new DataView(bytes.buffer);
      assert.equal(view.getUint32(16), 1000);
      assert.equal(view.getUint32(20), 1400);
      // A blank page compresses to a few kB; charts and text do not.
      assert.ok(bytes.length > 50_000, `${bytes.length} bytes`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
