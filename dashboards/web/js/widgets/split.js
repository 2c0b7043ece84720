// Split by source or channel: volume and negative feedback as bars, the
// negative rate as a line on its own axis. Clicks drill into that source or
// channel (the negative bar adds sentiment=neg).

import { t, valueLabel } from '../i18n.js';
import { formatPercent } from '../format.js';
import { COLORS, categoryAxis, drawChart, valueAxis } from '../charts.js';
import { chartContainer, rowsOf, showEmpty, widgetOption } from './common.js';

export function render(body, widget, data, context) {
  const by = (data && data.by) || widgetOption(widget, 'by') || 'source';
  const rows = rowsOf(data).filter((row) => Number(row.volume) > 0);
  if (rows.length === 0) {
    showEmpty(body, t('common.empty'), t('common.empty_hint'));
    return;
  }
  const element = chartContainer(body);
  if (!element) return;
  const label = (key) => (by === 'source' ? valueLabel('source', key) : key);
  drawChart(element, {
    grid: { left: 44, right: 48, top: 40, bottom: 28 },
    legend: { type: 'scroll', top: 4, left: 0, right: 0, itemWidth: 14, itemHeight: 8, textStyle: { color: COLORS.axis } },
    tooltip: {
      trigger: 'axis', axisPointer: { type: 'shadow' },
      valueFormatter: (value) => (typeof value === 'number' && value <= 1 && value >= 0 && !Number.isInteger(value) ? formatPercent(value) : value),
    },
    xAxis: categoryAxis(rows.map((row) => label(row.key)), { axisLabel: { color: COLORS.axis, interval: 0, hideOverlap: true } }),
    yAxis: [valueAxis({ minInterval: 1 }), valueAxis({ max: 1, min: 0, splitLine: { show: false }, axisLabel: { color: COLORS.axis, formatter: (value) => `${Math.round(value * 100)}%` } })],
    series: [
      { name: t('split.volume'), type: 'bar', barMaxWidth: 28, itemStyle: { color: COLORS.primary, borderRadius: [3, 3, 0, 0] }, data: rows.map((row) => row.volume) },
      { name: t('split.negative'), type: 'bar', barMaxWidth: 28, itemStyle: { color: COLORS.negative, borderRadius: [3, 3, 0, 0] }, data: rows.map((row) => row.negative) },
      { name: t('split.negative_rate'), type: 'line', yAxisIndex: 1, symbolSize: 7, itemStyle: { color: '#f08c00' }, data: rows.map((row) => row.negative_rate) },
    ],
  }, (params) => {
    const row = rows[params.dataIndex];
    if (!row) return;
    context.drill({ [by]: row.key, ...(params.seriesIndex === 0 ? {} : { sentiment: 'neg' }) });
  });
}
