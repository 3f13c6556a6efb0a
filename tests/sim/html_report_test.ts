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
  const rows = report.clients.ignored.timeline.length;
  assert.equal(seriesPoints(svg.goodput, "ignored: succeeded/s").length, rows);
  assert.equal(seriesPoints(svg.goodput, "ignored: offered/s").length, rows);
  assert.equal(
    seriesPoints(svg.amplification, "propagated: attempts/s \\(x[0-9.]+ overall\\)").length,
    rows,
  );
  // p99 is missing (a gap) only in seconds where no call settled.
  const settled = report.clients.propagated.timeline.filter((r) => r.p99 !== null).length;
  assert.equal(seriesPoints(svg.latency, "propagated: p99 \\(ms\\)").length, settled);
  // A step chart: two points per change of second after the first.
  assert.equal(seriesPoints(svg.circuit, "ignored").length, 2 * rows - 1);
  assert.equal(
    seriesPoints(svg.servers, "ignored: queued").length,
    report.servers.ignored.timeline.length,
  );
  // Higher goodput is drawn higher (smaller y).
  const ys = seriesPoints(svg.goodput, "ignored: succeeded/s").map((p) => p[1]);
  const values = report.clients.ignored.timeline.map((r) => r.succeeded);
  const hi = values.indexOf(Math.max(...values));
  const lo = values.indexOf(Math.min(...values));
  assert.ok(ys[hi] < ys[lo]);
  assert.match(svg.summary, /<td>ignored<\/td><td>\d+<\/td>/);
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
