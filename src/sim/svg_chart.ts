/**
 * Minimal SVG line charts for the simulation's HTML report: no
 * dependencies, no script, so the report is one self-contained file.
 *
 * @module
 */

/** One line of a chart. */
export interface ChartSeries {
  /** Legend text. */
  name: string;
  /** CSS colour. */
  color: string;
  /** Points [x, y]; `null` y values break the line. */
  points: readonly (readonly [number, number | null])[];
  /** Dashed line. */
  dashed?: boolean;
  /** Draw as steps (a state that holds until the next point). */
  step?: boolean;
}

/** A chart. */
export interface Chart {
  /** Accessible title. */
  title: string;
  /** X axis label. */
  xLabel: string;
  /** Y axis label. */
  yLabel: string;
  /** The lines. */
  series: readonly ChartSeries[];
  /** Labels of y values 0, 1, 2... instead of numbers (a state chart). */
  yCategories?: readonly string[];
  /** Vertical markers (e.g. when a change happens), at x. */
  markers?: readonly { x: number; label: string }[];
}

/** Escapes text for XML/HTML. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A "nice" step for about `count` ticks over [0, max]. */
function niceStep(max: number, count: number): number {
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const scaled = raw / magnitude;
  const nice = scaled <= 1 ? 1 : scaled <= 2 ? 2 : scaled <= 5 ? 5 : 10;
  return nice * magnitude;
}

/** A tick label: at most 6 decimals, no floating-point noise (0.6, not 0.6000000000000001 or "1."). */
const fmt = (v: number): string => String(Number(v.toFixed(6)));
const round = (v: number): string => (Math.round(v * 10) / 10).toString();

const WIDTH = 900;
const HEIGHT = 300;
const LEFT = 60;
const RIGHT = 20;
const TOP = 20;
const BOTTOM = 40;
const LEGEND = 22;

/**
 * Renders `chart` as an SVG element. Each series is one `<polyline>` (one
 * per unbroken run) with `data-series` naming it, one point per data point.
 */
export function renderChart(chart: Chart): string {
  const all = chart.series.flatMap((s) => s.points);
  const xMax = Math.max(1, ...all.map((p) => p[0]));
  const yValues = all.map((p) => p[1]).filter((y): y is number => y !== null);
  const yTop = chart.yCategories !== undefined
    ? chart.yCategories.length - 1
    : Math.max(1, ...yValues) * 1.05;
  const legendRows = Math.ceil(chart.series.length / 3);
  const height = HEIGHT + legendRows * LEGEND;
  const plotW = WIDTH - LEFT - RIGHT;
  const plotH = HEIGHT - TOP - BOTTOM;
  const x = (v: number) => LEFT + (v / xMax) * plotW;
  const y = (v: number) => TOP + plotH - (v / (yTop || 1)) * plotH;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" role="img" aria-label="${
      escapeXml(chart.title)
    }" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<title>${escapeXml(chart.title)}</title>`);
  // Axes and grid.
  const yTicks = chart.yCategories !== undefined
    ? chart.yCategories.map((label, i) => [i, label] as const)
    : (() => {
      const step = niceStep(yTop, 5);
      const ticks: (readonly [number, string])[] = [];
      for (let i = 0, v = 0; v <= yTop + 1e-9; v = ++i * step) ticks.push([v, fmt(v)]);
      return ticks;
    })();
  for (const [v, label] of yTicks) {
    out.push(
      `<line x1="${LEFT}" y1="${round(y(v))}" x2="${WIDTH - RIGHT}" y2="${
        round(y(v))
      }" stroke="#e5e5e5"/><text x="${LEFT - 6}" y="${round(y(v) + 4)}" text-anchor="end">${
        escapeXml(label)
      }</text>`,
    );
  }
  const xStep = niceStep(xMax, 10);
  for (let i = 0, v = 0; v <= xMax + 1e-9; v = ++i * xStep) {
    out.push(
      `<text x="${round(x(v))}" y="${TOP + plotH + 16}" text-anchor="middle">${fmt(v)}</text>`,
    );
  }
  out.push(
    `<line x1="${LEFT}" y1="${TOP + plotH}" x2="${WIDTH - RIGHT}" y2="${
      TOP + plotH
    }" stroke="#333"/><line x1="${LEFT}" y1="${TOP}" x2="${LEFT}" y2="${
      TOP + plotH
    }" stroke="#333"/>`,
  );
  out.push(
    `<text x="${LEFT + plotW / 2}" y="${TOP + plotH + 34}" text-anchor="middle">${
      escapeXml(chart.xLabel)
    }</text>`,
  );
  out.push(
    `<text transform="translate(14 ${TOP + plotH / 2}) rotate(-90)" text-anchor="middle">${
      escapeXml(chart.yLabel)
    }</text>`,
  );
  for (const marker of chart.markers ?? []) {
    out.push(
      `<line x1="${round(x(marker.x))}" y1="${TOP}" x2="${round(x(marker.x))}" y2="${
        TOP + plotH
      }" stroke="#999" stroke-dasharray="2 3"/><text x="${round(x(marker.x) + 3)}" y="${
        TOP + 10
      }" fill="#666">${escapeXml(marker.label)}</text>`,
    );
  }
  // Lines.
  for (const s of chart.series) {
    const runs: string[][] = [[]];
    let prev: number | null = null;
    for (const [px, py] of s.points) {
      if (py === null) {
        if (runs[runs.length - 1].length > 0) runs.push([]);
        prev = null;
        continue;
      }
      const run = runs[runs.length - 1];
      if (s.step && prev !== null) run.push(`${round(x(px))},${round(y(prev))}`);
      run.push(`${round(x(px))},${round(y(py))}`);
      prev = py;
    }
    for (const run of runs) {
      if (run.length === 0) continue;
      out.push(
        `<polyline data-series="${
          escapeXml(s.name)
        }" fill="none" stroke="${s.color}" stroke-width="1.6"${
          s.dashed ? ' stroke-dasharray="5 4"' : ""
        } points="${run.join(" ")}"/>`,
      );
    }
  }
  // Legend.
  chart.series.forEach((s, i) => {
    const lx = LEFT + (i % 3) * 280;
    const ly = HEIGHT + Math.floor(i / 3) * LEGEND + 4;
    out.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${s.color}" stroke-width="2"${
        s.dashed ? ' stroke-dasharray="5 4"' : ""
      }/><text x="${lx + 30}" y="${ly + 4}">${escapeXml(s.name)}</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n");
}
