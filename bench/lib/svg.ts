/**
 * Grouped bar charts as standalone SVG, written by hand so that the suite needs no charting
 * dependency (issue 7). Linear or log10 value axis; one colour per series; values printed on bars.
 */
import assert from 'node:assert';

export interface BarGroup {
  label: string;
  /** One value per series, in the order of `series`; null draws no bar ("not measured"). */
  values: (number | null)[];
}

export interface BarChart {
  title: string;
  yLabel: string;
  series: string[];
  groups: BarGroup[];
  /** @default false */
  logScale?: boolean;
  /** Formats the number printed above each bar. @default integer with thousands separators */
  format?: (v: number) => string;
}

const COLOURS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#9c755f'];

export function escapeXml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** Round `max` up to 1, 2 or 5 times a power of ten, for a tidy axis. */
export function niceCeil(max: number): number {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

export function barChartSvg(chart: BarChart): string {
  for (const g of chart.groups)
    assert(g.values.length === chart.series.length, `group ${g.label} needs one value per series`);
  const fmt = chart.format ?? ((v: number) => Math.round(v).toLocaleString('en-US'));
  const width = 960;
  const height = 480;
  const left = 90;
  const right = 20;
  const top = 50;
  const bottom = 90;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const values = chart.groups.flatMap((g) => g.values).filter((v): v is number => v !== null && v > 0);
  const maxV = niceCeil(Math.max(1, ...values));
  const log = chart.logScale === true;
  const minV = log ? 10 ** Math.floor(Math.log10(Math.max(1e-9, Math.min(...values, maxV)))) : 0;
  const y = (v: number) => {
    const f = log
      ? (Math.log10(Math.max(v, minV)) - Math.log10(minV)) / (Math.log10(maxV) - Math.log10(minV) || 1)
      : v / maxV;
    return top + plotH - f * plotH;
  };
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
  );
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(chart.title)}</text>`,
  );
  // Axis ticks: powers of ten on a log axis, fifths on a linear one.
  const ticks: number[] = [];
  if (log) for (let t = minV; t <= maxV * 1.0001; t *= 10) ticks.push(t);
  else for (let i = 0; i <= 5; i++) ticks.push((maxV * i) / 5);
  for (const t of ticks) {
    const ty = y(t).toFixed(1);
    out.push(`<line x1="${left}" y1="${ty}" x2="${width - right}" y2="${ty}" stroke="#dddddd"/>`);
    out.push(
      `<text x="${left - 6}" y="${ty}" text-anchor="end" dominant-baseline="middle">${escapeXml(fmt(t))}</text>`,
    );
  }
  out.push(
    `<text x="18" y="${top + plotH / 2}" text-anchor="middle" transform="rotate(-90 18 ${top + plotH / 2})">${escapeXml(chart.yLabel)}${log ? ' (log scale)' : ''}</text>`,
  );
  out.push(
    `<line x1="${left}" y1="${top + plotH}" x2="${width - right}" y2="${top + plotH}" stroke="#333333"/>`,
  );
  const groupW = plotW / Math.max(1, chart.groups.length);
  const barW = (groupW * 0.8) / Math.max(1, chart.series.length);
  chart.groups.forEach((g, gi) => {
    const gx = left + gi * groupW + groupW * 0.1;
    g.values.forEach((v, si) => {
      if (v === null || !(v > 0)) return;
      const x = gx + si * barW;
      const by = y(v);
      out.push(
        `<rect x="${x.toFixed(1)}" y="${by.toFixed(1)}" width="${(barW * 0.92).toFixed(1)}" height="${(top + plotH - by).toFixed(1)}" fill="${COLOURS[si % COLOURS.length]}"><title>${escapeXml(`${g.label} / ${chart.series[si]}: ${fmt(v)}`)}</title></rect>`,
      );
      if (barW >= 14)
        out.push(
          `<text x="${(x + barW / 2).toFixed(1)}" y="${(by - 3).toFixed(1)}" text-anchor="middle" font-size="9">${escapeXml(fmt(v))}</text>`,
        );
    });
    out.push(
      `<text x="${(gx + groupW * 0.4).toFixed(1)}" y="${top + plotH + 16}" text-anchor="middle">${escapeXml(g.label)}</text>`,
    );
  });
  chart.series.forEach((s, si) => {
    const lx = left + (si % 4) * 220;
    const ly = height - 40 + Math.floor(si / 4) * 16;
    out.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${COLOURS[si % COLOURS.length]}"/>`);
    out.push(`<text x="${lx + 14}" y="${ly}">${escapeXml(s)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export interface LineSeries {
  name: string;
  /** [x, y] points in x order; x in the chart's unit (seconds for the soak). */
  points: [number, number][];
  /** Which value axis the series uses: the left one or the right one. @default 'left' */
  axis?: 'left' | 'right';
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Label of the right axis; only drawn when a series uses it. */
  yRightLabel?: string;
  series: LineSeries[];
  /** Shaded spans of x, e.g. when hostile clients ran. */
  bands?: { from: number; to: number; label: string }[];
}

/** A time series chart: one polyline per series, two independent value axes, shaded bands. */
export function lineChartSvg(chart: LineChart): string {
  const width = 960;
  const height = 420;
  const left = 80;
  const right = 80;
  const top = 50;
  const bottom = 70;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const xs = chart.series.flatMap((s) => s.points.map((p) => p[0]));
  const xMax = Math.max(1, ...xs);
  const axisMax = (axis: 'left' | 'right') =>
    niceCeil(
      Math.max(
        1,
        ...chart.series.filter((s) => (s.axis ?? 'left') === axis).flatMap((s) => s.points.map((p) => p[1])),
      ),
    );
  const maxL = axisMax('left');
  const maxR = axisMax('right');
  const x = (v: number) => left + (v / xMax) * plotW;
  const y = (v: number, axis: 'left' | 'right') =>
    top + plotH - (v / (axis === 'left' ? maxL : maxR)) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(chart.title)}</text>`,
  ];
  for (const b of chart.bands ?? []) {
    out.push(
      `<rect x="${x(b.from).toFixed(1)}" y="${top}" width="${Math.max(1, x(b.to) - x(b.from)).toFixed(1)}" height="${plotH}" fill="#f4e3e3"><title>${escapeXml(b.label)}</title></rect>`,
    );
  }
  for (let i = 0; i <= 5; i++) {
    const ty = (top + plotH - (plotH * i) / 5).toFixed(1);
    out.push(`<line x1="${left}" y1="${ty}" x2="${width - right}" y2="${ty}" stroke="#dddddd"/>`);
    out.push(
      `<text x="${left - 6}" y="${ty}" text-anchor="end" dominant-baseline="middle">${(maxL * i) / 5}</text>`,
    );
    if (chart.series.some((s) => s.axis === 'right'))
      out.push(
        `<text x="${width - right + 6}" y="${ty}" dominant-baseline="middle">${(maxR * i) / 5}</text>`,
      );
    const tx = x((xMax * i) / 5).toFixed(1);
    out.push(
      `<text x="${tx}" y="${top + plotH + 16}" text-anchor="middle">${Math.round((xMax * i) / 5)}</text>`,
    );
  }
  out.push(
    `<text x="18" y="${top + plotH / 2}" text-anchor="middle" transform="rotate(-90 18 ${top + plotH / 2})">${escapeXml(chart.yLabel)}</text>`,
  );
  if (chart.yRightLabel && chart.series.some((s) => s.axis === 'right'))
    out.push(
      `<text x="${width - 18}" y="${top + plotH / 2}" text-anchor="middle" transform="rotate(90 ${width - 18} ${top + plotH / 2})">${escapeXml(chart.yRightLabel)}</text>`,
    );
  out.push(
    `<text x="${left + plotW / 2}" y="${top + plotH + 34}" text-anchor="middle">${escapeXml(chart.xLabel)}</text>`,
  );
  chart.series.forEach((s, si) => {
    const axis = s.axis ?? 'left';
    const pts = s.points.map(([px, py]) => `${x(px).toFixed(1)},${y(py, axis).toFixed(1)}`).join(' ');
    out.push(
      `<polyline fill="none" stroke="${COLOURS[si % COLOURS.length]}" stroke-width="1.5" points="${pts}"/>`,
    );
    const lx = left + si * 220;
    out.push(
      `<rect x="${lx}" y="${height - 19}" width="10" height="10" fill="${COLOURS[si % COLOURS.length]}"/>`,
    );
    out.push(
      `<text x="${lx + 14}" y="${height - 10}">${escapeXml(s.name)}${axis === 'right' ? ' (right axis)' : ''}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
