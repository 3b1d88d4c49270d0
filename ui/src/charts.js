// A live time-series chart over uPlot whose series (one per model or provider) appear as the
// data names them. Colours follow the group, so a model has the same colour on every chart;
// "<group> p99" series are dashed beside the solid "<group> p50".
import uPlot from 'uplot';
import { h } from './dom.js';
import * as fmt from './format.js';

const PALETTE = ['#3b82f6', '#f97316', '#10b981', '#ef4444', '#8b5cf6', '#ca8a04', '#06b6d4', '#db2777'];
const colourIndex = new Map(); // group -> palette index, in order of appearance
const dark = window.matchMedia('(prefers-color-scheme: dark)');

function colour(group) {
  if (!colourIndex.has(group)) colourIndex.set(group, colourIndex.size % PALETTE.length);
  return PALETTE[colourIndex.get(group)];
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// Tick spacing on the time axis, in seconds: whole seconds and minutes only.
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];

function clock(t) {
  return fmt.time(t * 1000).slice(11);
}

export class TimeChart {
  // format(value) labels the y axis and the legend; points: how many samples are kept.
  constructor({ title, testid, format, points = 150 }) {
    this.format = format;
    this.points = points;
    this.names = [];
    this.data = [[]];
    this.plot = null;
    this.canvas = h('div', { class: 'plot' });
    this.empty = h('p', { class: 'muted small chart-empty' }, 'Waiting for two samples…');
    this.el = h('figure', { class: 'chart', testid }, h('figcaption', {}, title), this.empty, this.canvas);
    this.observer = new ResizeObserver(() => this.plot?.setSize(this.size()));
    this.observer.observe(this.el);
    this.onScheme = () => this.rebuild();
    dark.addEventListener('change', this.onScheme);
  }

  // Drops every point (the grouping changed).
  reset() {
    this.names = [];
    this.data = [[]];
    this.rebuild();
  }

  // Appends the values at time t (seconds): a Map(series name -> number or null).
  push(t, values) {
    let added = false;
    for (const name of [...values.keys()].sort()) {
      if (this.names.includes(name)) continue;
      this.names.push(name);
      this.data.push(this.data[0].map(() => null));
      added = true;
    }
    this.data[0].push(t);
    this.names.forEach((name, i) => {
      const v = values.get(name);
      this.data[i + 1].push(v === undefined || !Number.isFinite(v) ? null : v);
    });
    if (this.data[0].length > this.points) for (const column of this.data) column.shift();
    if (added || !this.plot) this.rebuild();
    else this.plot.setData(this.data);
  }

  size() {
    return { width: Math.max(200, this.el.clientWidth - 2), height: 180 };
  }

  rebuild() {
    this.plot?.destroy();
    this.plot = null;
    this.empty.hidden = this.names.length > 0 && this.data[0].length > 0;
    if (!this.empty.hidden) return;
    const axis = { stroke: cssVar('--muted'), grid: { stroke: cssVar('--grid'), width: 1 }, ticks: { show: false } };
    const series = this.names.map((name) => ({
      label: name,
      stroke: colour(name.replace(/ p(50|99)$/, '')),
      width: 1.75,
      dash: name.endsWith(' p99') ? [6, 4] : undefined,
      value: (u, v) => (v === null || v === undefined ? '–' : this.format(v)),
    }));
    const opts = {
      ...this.size(),
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.15 : 1] } },
      axes: [
        { ...axis, space: 70, incrs: TIME_STEPS, values: (u, splits) => splits.map(clock) },
        { ...axis, size: 72, values: (u, splits) => splits.map((v) => this.format(v)) },
      ],
      series: [{ value: (u, t) => (t === null ? '–' : clock(t)) }, ...series],
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
    };
    this.plot = new uPlot(opts, this.data, this.canvas);
  }

  destroy() {
    this.observer.disconnect();
    dark.removeEventListener('change', this.onScheme);
    this.plot?.destroy();
  }
}
