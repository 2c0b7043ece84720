// Praise vs complaint per tag: a diverging bar chart, complaints to the
// left, praise to the right, so a tag that customers both love and hate
// stands out. Clicking a side drills into that polarity.

import { t } from '../i18n.js';
import { COLORS, drawChart, valueAxis } from '../charts.js';
import { chartContainer, rowsOf, showEmpty, tagName } from './common.js';

export function render(body, widget, data, context) {
  const rows = rowsOf(data).filter((row) => Number(row.pos) > 0 || Number(row.neg) > 0);
  if (rows.length === 0) {
    showEmpty(body, t('common.empty'), t('common.empty_hint'));
    return;
  }
  const element = chartContainer(body, 'chart-tall');
  if (!element) return;
  // First row on top.
  const ordered = [...rows].reverse();
  const maximum = Math.max(...rows.map((row) => Math.max(Number(row.pos) || 0, Number(row.neg) || 0)), 1);
  drawChart(element, {
    grid: { left: 96, right: 24, top: 36, bottom: 24 },
    legend: { type: 'scroll', top: 4, left: 0, right: 0, itemWidth: 14, itemHeight: 8, textStyle: { color: COLORS.axis } },
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, valueFormatter: (value) => Math.abs(value) },
    // Head-room on both sides so the count labels never sit on the tag names.
    xAxis: valueAxis({ min: -Math.ceil(maximum * 1.2), max: Math.ceil(maximum * 1.2), axisLabel: { color: COLORS.axis, formatter: (value) => Math.abs(value) } }),
    yAxis: {
      type: 'category', data: ordered.map((row) => tagName(row, context)), axisTick: { show: false },
      axisLine: { lineStyle: { color: '#d5dbe3' } }, axisLabel: { color: COLORS.text, width: 90, overflow: 'truncate' },
    },
    series: [
      {
        name: t('praise.neg'), type: 'bar', stack: 'total', barMaxWidth: 14, itemStyle: { color: COLORS.negative, borderRadius: [3, 0, 0, 3] },
        label: { show: true, position: 'left', color: COLORS.axis, formatter: (params) => (params.value ? Math.abs(params.value) : '') },
        data: ordered.map((row) => -(Number(row.neg) || 0)),
      },
      {
        name: t('praise.pos'), type: 'bar', stack: 'total', barMaxWidth: 14, itemStyle: { color: COLORS.positive, borderRadius: [0, 3, 3, 0] },
        label: { show: true, position: 'right', color: COLORS.axis, formatter: (params) => (params.value ? params.value : '') },
        data: ordered.map((row) => Number(row.pos) || 0),
      },
    ],
  }, (params) => {
    const row = ordered[params.dataIndex];
    if (!row) return;
    context.drill({ tag: row.tag, polarity: params.seriesIndex === 0 ? 'neg' : 'pos' });
  });
}
