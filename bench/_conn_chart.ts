/**
 * A small hand-written SVG line chart for the `connections` suite: server RSS (MiB) against
 * open connections, one line per server.
 *
 * @module
 */

/** One line of the chart. */
export interface ChartSeries {
  readonly label: string;
  readonly color: string;
  /** `x`: connections, `y`: bytes. */
  readonly points: readonly { readonly x: number; readonly y: number }[];
}

const WIDTH = 640;
const HEIGHT = 380;
const MARGIN = { left: 64, right: 24, top: 48, bottom: 52 };
const MIB = 1024 * 1024;

/** A round step (1, 2 or 5 times a power of ten) giving about `count` ticks up to `max`. */
export function niceStep(max: number, count = 5): number {
  if (!(max > 0)) return 1;
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const factor = [1, 2, 5, 10].find((f) => f * power >= raw)!;
  return factor * power;
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function label(value: number): string {
  return value >= 1000 && value % 1000 === 0 ? `${value / 1000}k` : String(value);
}

/**
 * Renders the chart.
 *
 * @throws {RangeError} when no series has a point.
 */
export function rssChart(series: readonly ChartSeries[], title: string): string {
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) throw new RangeError("Cannot draw a chart without points");
  const xStep = niceStep(Math.max(...all.map((p) => p.x)));
  const xMax = Math.ceil(Math.max(...all.map((p) => p.x)) / xStep) * xStep;
  const yStep = niceStep(Math.max(...all.map((p) => p.y / MIB)));
  const yMax = Math.ceil(Math.max(...all.map((p) => p.y / MIB)) / yStep) * yStep;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x: number) => MARGIN.left + (x / xMax) * plotW;
  const sy = (bytes: number) => MARGIN.top + plotH - (bytes / MIB / yMax) * plotH;
  const f = (n: number) => n.toFixed(1);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" ` +
    `viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>`,
    `<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="15">${escape(title)}</text>`,
  ];
  for (let y = 0; y <= yMax + 1e-9; y += yStep) {
    const py = f(sy(y * MIB));
    out.push(
      `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${py}" y2="${py}" ` +
        `stroke="#e5e5e5"/>`,
      `<text x="${MARGIN.left - 8}" y="${py}" dy="4" text-anchor="end">${label(y)}</text>`,
    );
  }
  for (let x = 0; x <= xMax + 1e-9; x += xStep) {
    const px = f(sx(x));
    out.push(
      `<line x1="${px}" x2="${px}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH + 5}" ` +
        `stroke="#444"/>`,
      `<text x="${px}" y="${MARGIN.top + plotH + 20}" text-anchor="middle">${label(x)}</text>`,
    );
  }
  out.push(
    `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${MARGIN.top + plotH}" ` +
      `y2="${MARGIN.top + plotH}" stroke="#444"/>`,
    `<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" ` +
      `y2="${MARGIN.top + plotH}" stroke="#444"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 10}" text-anchor="middle">` +
      `open connections</text>`,
    `<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" ` +
      `text-anchor="middle">server RSS (MiB)</text>`,
  );
  for (const [i, s] of series.entries()) {
    const points = [...s.points].sort((a, b) => a.x - b.x);
    const path = points.map((p) => `${f(sx(p.x))},${f(sy(p.y))}`).join(" ");
    out.push(`<polyline points="${path}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (const p of points) {
      out.push(`<circle cx="${f(sx(p.x))}" cy="${f(sy(p.y))}" r="3.5" fill="${s.color}"/>`);
    }
    const ly = MARGIN.top + 8 + i * 18;
    out.push(
      `<rect x="${MARGIN.left + 12}" y="${ly - 5}" width="14" height="4" fill="${s.color}"/>`,
      `<text x="${MARGIN.left + 32}" y="${ly}" dy="1">${escape(s.label)}</text>`,
    );
  }
  out.push("</svg>");
  return out.join("\n") + "\n";
}
