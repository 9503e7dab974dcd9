/**
 * bench/lib/svg.ts — the latency distributions as a self-contained SVG (no chart
 * library): one panel for attach, one for detach; per path a horizontal strip of every
 * sample on a log-scale time axis, a box from p25 to p75, whiskers to p1/p99, and the
 * median drawn and labelled.
 */
import { quantile, sorted } from './stats.js';

export interface SvgSeries {
  readonly name: string;
  readonly attach: readonly number[];
  readonly detach: readonly number[];
}

const COLORS = ['#1b9e77', '#d95f02', '#7570b3', '#e7298a', '#66a61e', '#e6ab02', '#a6761d', '#666666'];
const W = 1000, LEFT = 210, RIGHT = 120, ROW = 34, PANEL_TOP = 80, AXIS = 34;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Axis ticks: round values, no trailing zeros. */
function tickLabel(v: number): string {
  if (v >= 1000) return `${+(v / 1000).toPrecision(3)} s`;
  if (v >= 1) return `${+v.toPrecision(3)} ms`;
  return `${+(v * 1000).toPrecision(3)} µs`;
}

function fmtMs(v: number): string {
  if (v >= 100) return `${v.toFixed(0)} ms`;
  if (v >= 10) return `${v.toFixed(1)} ms`;
  if (v >= 1) return `${v.toFixed(2)} ms`;
  return `${(v * 1000).toFixed(0)} µs`;
}

/** A deterministic jitter in [-1, 1] so the strip looks the same on every render. */
function jitter(i: number): number {
  const x = Math.sin(i * 12.9898) * 43758.5453;
  return (x - Math.floor(x)) * 2 - 1;
}

function panel(title: string, rows: ReadonlyArray<{ name: string; color: string; samples: readonly number[] }>, top: number): { svg: string; height: number } {
  const all = rows.flatMap((r) => r.samples).filter((v) => v > 0);
  if (all.length === 0) return { svg: '', height: 0 };
  const lo = 10 ** Math.floor(Math.log10(Math.min(...all)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...all)));
  const x = (v: number): number => LEFT + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (W - LEFT - RIGHT);
  const h = rows.length * ROW;
  const parts: string[] = [`<text x="${LEFT}" y="${top - 14}" class="title">${esc(title)}</text>`];
  // grid: 1-2-5 per decade
  const decades = Math.round(Math.log10(hi / lo));
  const steps = decades <= 3 ? [1, 2, 5] : [1];
  for (let d = lo; d < hi * 1.001; d *= 10) {
    for (const m of steps) {
      const v = d * m;
      if (v > hi * 1.001) break;
      const gx = x(v).toFixed(1);
      parts.push(`<line x1="${gx}" y1="${top}" x2="${gx}" y2="${top + h}" class="${m === 1 ? 'grid1' : 'grid'}"/>`);
      parts.push(`<text x="${gx}" y="${top + h + 16}" class="tick">${esc(tickLabel(v))}</text>`);
    }
  }
  rows.forEach((r, k) => {
    const cy = top + k * ROW + ROW / 2;
    parts.push(`<text x="${LEFT - 8}" y="${cy + 4}" class="label">${esc(r.name)}</text>`);
    if (r.samples.length === 0) {
      parts.push(`<text x="${LEFT + 6}" y="${cy + 4}" class="na">unavailable</text>`);
      return;
    }
    const s = sorted(r.samples);
    const q = (p: number): number => quantile(s, p);
    parts.push(`<g fill="${r.color}" fill-opacity="0.35">`);
    r.samples.forEach((v, i) => {
      parts.push(`<circle cx="${x(v).toFixed(1)}" cy="${(cy + jitter(i) * (ROW * 0.3)).toFixed(1)}" r="1.6"/>`);
    });
    parts.push('</g>');
    parts.push(`<line x1="${x(q(0.01)).toFixed(1)}" y1="${cy}" x2="${x(q(0.99)).toFixed(1)}" y2="${cy}" stroke="${r.color}" stroke-width="1.2"/>`);
    parts.push(`<rect x="${x(q(0.25)).toFixed(1)}" y="${cy - ROW * 0.28}" width="${Math.max(1, x(q(0.75)) - x(q(0.25))).toFixed(1)}" height="${(ROW * 0.56).toFixed(1)}" fill="none" stroke="${r.color}" stroke-width="1.5"/>`);
    const mx = x(q(0.5)).toFixed(1);
    parts.push(`<line x1="${mx}" y1="${cy - ROW * 0.38}" x2="${mx}" y2="${cy + ROW * 0.38}" stroke="#000" stroke-width="2.2"/>`);
    parts.push(`<text x="${W - RIGHT + 8}" y="${cy + 4}" class="med">median ${esc(fmtMs(q(0.5)))}</text>`);
  });
  return { svg: parts.join('\n'), height: h + AXIS };
}

export function renderSvg(series: readonly SvgSeries[], subtitle: string): string {
  const rows = series.map((s, k) => ({ ...s, color: COLORS[k % COLORS.length] ?? '#000' }));
  const a = panel('attach: one container (netns + veth on the bridge + address + route), per container', rows.map((r) => ({ name: r.name, color: r.color, samples: r.attach })), PANEL_TOP + 20);
  const dTop = PANEL_TOP + 20 + a.height + 46;
  const d = panel('detach, per container', rows.map((r) => ({ name: r.name, color: r.color, samples: r.detach })), dTop);
  const height = dTop + d.height + 40;
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">
<style>
 .title { font-size: 13px; font-weight: 600; }
 .label { font-size: 12px; text-anchor: end; }
 .tick { font-size: 10px; text-anchor: middle; fill: #555; }
 .med { font-size: 11px; fill: #000; }
 .na { font-size: 11px; fill: #999; font-style: italic; }
 .grid { stroke: #eee; }
 .grid1 { stroke: #ccc; }
</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="20" y="24" font-size="16" font-weight="700">ctnet-fast benchmark — latency per container (log scale)</text>
<text x="20" y="42" font-size="11" fill="#555">${esc(subtitle)}</text>
<text x="20" y="57" font-size="11" fill="#555">dots: every sample · box: p25–p75 · whiskers: p1–p99 · black bar: median · each path in fresh namespaces, interleaved rounds</text>
${a.svg}
${d.svg}
</svg>
`;
}
