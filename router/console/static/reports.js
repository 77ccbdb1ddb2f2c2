// Draws the reports page's charts with uPlot from the JSON the server put in the page
// (router/domain/reports/charts.py). Categories (hours, wait buckets, operators) are
// plotted at x = 0, 1, 2… with their labels on the axis.
"use strict";

function categoryAxis(labels) {
  return {
    values: (u, ticks) => ticks.map((t) => (Number.isInteger(t) ? labels[t] ?? "" : "")),
    gap: 6,
  };
}

function barChart(target, title, labels, series, extra = {}) {
  const el = document.getElementById(target);
  if (!el || labels.length === 0) {
    if (el) el.textContent = "No data in this period.";
    return;
  }
  const xs = labels.map((_, i) => i);
  const bars = uPlot.paths.bars({ size: [0.6, 60] });
  const opts = {
    title, width: Math.min(900, el.clientWidth || 600), height: 260,
    scales: {
      x: { time: false, range: [-0.5, labels.length - 0.5] },
      y: { range: (u, min, max) => [0, Math.max(1, max)] }, // bars stand on zero
      ...extra.scales,
    },
    axes: [categoryAxis(labels), { label: extra.yLabel || "" }, ...(extra.axes || [])],
    series: [{}, ...series.map((s) => ({ paths: s.line ? undefined : bars, ...s.opts }))],
  };
  el.chart = new uPlot(opts, [xs, ...series.map((s) => s.values)], el);
  el.dataset.drawn = String(labels.length);
}

document.addEventListener("DOMContentLoaded", () => {
  const source = document.getElementById("chart-data");
  if (!source) return;
  const data = JSON.parse(source.textContent);
  const h = data.hours;
  barChart("chart-hours", "", h.labels, [
    { values: h.offered, opts: { label: "offered", fill: "#9bbcd9", stroke: "#4a7aa5" } },
    { values: h.answered, opts: { label: "answered", fill: "#8fcf9a", stroke: "#3e8e4e" } },
    { values: h.service_level.map((v) => (v === null ? null : v * 100)), line: true,
      opts: { label: "service level %", stroke: "#c0392b", width: 2, scale: "%" } },
  ], { yLabel: "calls", scales: { "%": { range: [0, 100] } },
       axes: [{ scale: "%", side: 1, label: "%", grid: { show: false } }] });
  barChart("chart-waits", "", data.waits.labels, [
    { values: data.waits.callers, opts: { label: "callers", fill: "#f0c27b", stroke: "#b7852f" } },
  ], { yLabel: "callers" });
  barChart("chart-operators", "", data.operators.labels, [
    { values: data.operators.answer_rate.map((v) => v * 100),
      opts: { label: "answer rate %", fill: "#b39ddb", stroke: "#6a4fb3" } },
  ], { yLabel: "%", scales: { y: { range: [0, 100] } } });
  const st = data.staffing;
  barChart("chart-staffing", "", st.labels, [
    { values: st.erlang_c, opts: { label: "needed (Erlang C)", fill: "#9bbcd9", stroke: "#4a7aa5" } },
    { values: st.erlang_a, opts: { label: "needed (Erlang A)", fill: "#8fcf9a", stroke: "#3e8e4e" } },
    { values: st.on_duty, line: true,
      opts: { label: "on duty", stroke: "#c0392b", width: 2, points: { show: true } } },
  ], { yLabel: "operators" });
});
