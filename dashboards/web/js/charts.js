// ECharts glue: one chart instance per container, reused across refreshes
// (setOption with notMerge) so an auto-refresh redraws without flashing, and
// resized with its container. ECharts is the vendored UMD build loaded by
// index.html before the modules (window.echarts); it draws to canvas and
// needs no eval, so it runs under the service's CSP.

import { language } from './i18n.js';

export const COLORS = {
  primary: '#1f6feb',
  negative: '#e5484d',
  positive: '#2f9e69',
  neutral: '#a3adbb',
  palette: ['#1f6feb', '#13a8a8', '#f08c00', '#7c5cd6', '#e5484d', '#2f9e69', '#d6409f', '#5c7cfa'],
  library: { product: '#1f6feb', logistics: '#f08c00', service: '#7c5cd6' },
  axis: '#8a94a6',
  grid: '#eef1f5',
  text: '#1f2733',
};

const observers = new WeakMap();
/** Elements holding a live chart, so charts whose element left the page can be released. */
const liveChartElements = new Set();

export function chartsAvailable() {
  return typeof window.echarts === 'object' && window.echarts !== null && typeof window.echarts.init === 'function';
}

/**
 * Draws `option` into `element`, reusing the element's chart if there is one.
 * `onClick(params)` receives ECharts click events (drill-downs).
 */
export function drawChart(element, option, onClick) {
  const echarts = window.echarts;
  let chart = echarts.getInstanceByDom(element);
  if (chart && chart.__xinshengLanguage !== language()) {
    // The built-in toolbox/tooltip texts follow the locale chosen at init.
    chart.dispose();
    chart = null;
  }
  if (!chart) {
    chart = echarts.init(element, null, { renderer: 'canvas', locale: language() === 'zh' ? 'ZH' : 'EN' });
    chart.__xinshengLanguage = language();
    const observer = new ResizeObserver(() => {
      if (!chart.isDisposed()) chart.resize();
    });
    observer.observe(element);
    observers.set(element, observer);
    liveChartElements.add(element);
  }
  chart.off('click');
  if (onClick) chart.on('click', onClick);
  chart.setOption({ ...baseOption(), ...option }, true);
  return chart;
}

function release(element) {
  const chart = window.echarts.getInstanceByDom(element);
  if (chart) chart.dispose();
  const observer = observers.get(element);
  if (observer) observer.disconnect();
  liveChartElements.delete(element);
}

/** Disposes every chart under `root` (page changes), so no timer or listener leaks. */
export function disposeCharts(root) {
  if (!chartsAvailable() || !root) return;
  for (const element of root.querySelectorAll('.chart')) release(element);
  releaseDetachedCharts();
}

/** A widget that now shows an empty state has dropped its chart element: free that chart. */
export function releaseDetachedCharts() {
  if (!chartsAvailable()) return;
  for (const element of [...liveChartElements]) {
    if (!element.isConnected) release(element);
  }
}

function baseOption() {
  return {
    color: COLORS.palette,
    animationDuration: 300,
    textStyle: {
      fontFamily: '"PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", system-ui, sans-serif',
      color: COLORS.text,
    },
    tooltip: { confine: true },
  };
}

export function categoryAxis(labels, extra = {}) {
  return {
    type: 'category',
    data: labels,
    axisLine: { lineStyle: { color: '#d5dbe3' } },
    axisTick: { show: false },
    axisLabel: { color: COLORS.axis },
    ...extra,
  };
}

export function valueAxis(extra = {}) {
  return {
    type: 'value',
    axisLine: { show: false },
    splitLine: { lineStyle: { color: COLORS.grid } },
    axisLabel: { color: COLORS.axis },
    ...extra,
  };
}

/**
 * ECharts renders tooltip formatters' strings as HTML; API strings (SKUs,
 * tag names, reasons) go through this first.
 */
export function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (character) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[character]);
}
