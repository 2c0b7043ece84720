// SKU (or category, or product) × tag heat map of negative mentions. A cell
// drills into search with that SKU and tag.

import { t } from '../i18n.js';
import { COLORS, drawChart, escapeHtml } from '../charts.js';
import { chartContainer, showEmpty, tagName, widgetOption } from './common.js';

/** The search filter of a heat-map row (search has no product-name filter: use the words). */
function rowFilter(dimension, value) {
  if (dimension === 'product_name') return { q: value };
  return { [dimension]: value };
}

export function render(body, widget, data, context) {
  const rows = data && Array.isArray(data.rows) ? data.rows : [];
  const columns = data && Array.isArray(data.columns) ? data.columns : [];
  const cells = data && Array.isArray(data.cells) ? data.cells.filter((cell) => Number(cell[2]) > 0) : [];
  if (rows.length === 0 || columns.length === 0 || cells.length === 0) {
    showEmpty(body, t('common.empty'), t('common.empty_hint'));
    return;
  }
  const dimension = data.dimension || widgetOption(widget, 'dimension') || 'sku';
  const element = chartContainer(body, 'chart-tall');
  if (!element) return;
  const maximum = Math.max(...cells.map((cell) => Number(cell[2]) || 0));
  const columnNames = columns.map((column) => tagName(column, context));
  // Rows top-down as ranked: ECharts draws the first category at the bottom.
  const rowLabels = [...rows].reverse();
  const rowCount = rows.length;
  drawChart(element, {
    // A light canvas behind the cells so a missing (zero) cell reads as "none", not as a gap.
    grid: { left: 110, right: 24, top: 12, bottom: 80, show: true, backgroundColor: '#f7f9fb', borderWidth: 0 },
    tooltip: {
      position: 'top',
      formatter: (params) => `${escapeHtml(rows[rowCount - 1 - params.value[1]])}<br>${escapeHtml(columnNames[params.value[0]])}: ${params.value[2]} ${escapeHtml(t('heatmap.negative_mentions'))}`,
    },
    xAxis: { type: 'category', data: columnNames, axisLine: { show: false }, axisLabel: { rotate: 40, interval: 0, color: COLORS.axis }, axisTick: { show: false } },
    yAxis: { type: 'category', data: rowLabels, axisLine: { show: false }, axisLabel: { color: COLORS.axis, width: 100, overflow: 'truncate' }, axisTick: { show: false } },
    // Every cell prints its count, so the colour scale needs no legend of its own.
    visualMap: {
      show: false, min: 0, max: Math.max(1, maximum),
      inRange: { color: ['#fff4f2', '#ffc9bf', '#ff8f7a', '#e5484d', '#a8242a'] },
    },
    series: [{
      name: t('heatmap.negative_mentions'),
      type: 'heatmap',
      // Dark cells get white numbers so the count stays readable.
      data: cells.map(([rowIndex, columnIndex, value]) => ({
        value: [columnIndex, rowCount - 1 - rowIndex, value],
        label: { color: value > maximum * 0.6 ? '#ffffff' : '#1f2733' },
      })),
      label: { show: true, fontSize: 11, formatter: (params) => (params.value[2] > 0 ? params.value[2] : '') },
      itemStyle: { borderColor: '#fff', borderWidth: 2, borderRadius: 2 },
      emphasis: { itemStyle: { borderColor: COLORS.text, borderWidth: 1 } },
    }],
  }, (params) => {
    if (!Array.isArray(params.value)) return;
    const row = rows[rowCount - 1 - params.value[1]];
    const column = columns[params.value[0]];
    if (row === undefined || !column) return;
    context.drill({ ...rowFilter(dimension, row), tag: column.tag, polarity: 'neg' });
  });
}
