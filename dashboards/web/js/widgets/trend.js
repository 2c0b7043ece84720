// Trend per day or week: feedback volume (bars), negative feedback and the
// negative mentions of each library (lines). A click on a point drills into
// search for that bucket.

import { t } from '../i18n.js';
import { formatBucket, compactInstant, addDays, formatDate } from '../format.js';
import { COLORS, categoryAxis, drawChart, valueAxis } from '../charts.js';
import { chartContainer, libraryLabel, showEmpty } from './common.js';

const LIBRARY_ORDER = ['product', 'logistics', 'service'];

function bucketEnd(series, index, context, interval) {
  if (index + 1 < series.length) return series[index + 1].start;
  if (context.period && context.period.to) return context.period.to;
  const start = formatDate(series[index].start);
  return addDays(start, interval === 'week' ? 7 : 1);
}

export function render(body, widget, data, context) {
  const series = data && Array.isArray(data.series) ? data.series : [];
  const total = series.reduce((sum, bucket) => sum + (Number(bucket.volume) || 0), 0);
  if (series.length === 0 || total === 0) {
    showEmpty(body, t('common.empty'), t('common.empty_hint'));
    return;
  }
  const element = chartContainer(body, 'chart-tall');
  if (!element) return;
  const librariesPresent = LIBRARY_ORDER.filter((library) => series.some((bucket) => bucket.libraries && bucket.libraries[library]));
  const extraLibraries = [...new Set(series.flatMap((bucket) => Object.keys(bucket.libraries || {})))]
    .filter((library) => !LIBRARY_ORDER.includes(library));
  const libraries = [...librariesPresent, ...extraLibraries]
    .filter((library) => !context.library || library === context.library);
  const seriesKinds = [];
  const chartSeries = [
    {
      name: t('trend.volume'), type: 'bar', barMaxWidth: 18, itemStyle: { color: '#c9dcfb', borderRadius: [3, 3, 0, 0] },
      data: series.map((bucket) => bucket.volume ?? 0),
    },
    {
      name: t('trend.negative'), type: 'line', symbolSize: 6, itemStyle: { color: COLORS.negative },
      lineStyle: { width: 2 }, data: series.map((bucket) => bucket.negative ?? 0),
    },
  ];
  seriesKinds.push({}, { sentiment: 'neg' });
  for (const library of libraries) {
    chartSeries.push({
      name: t('trend.library_negative', { library: libraryLabel(library) }), type: 'line', symbolSize: 4,
      itemStyle: { color: COLORS.library[library] || COLORS.neutral }, lineStyle: { width: 1.5, type: 'dashed' },
      data: series.map((bucket) => (bucket.libraries && bucket.libraries[library] ? bucket.libraries[library].neg ?? 0 : 0)),
    });
    seriesKinds.push({ library, polarity: 'neg' });
  }
  const interval = data.interval || (context.period && context.period.interval) || 'day';
  drawChart(element, {
    grid: { left: 44, right: 20, top: 44, bottom: 32 },
    legend: { type: 'scroll', top: 4, left: 0, right: 0, itemWidth: 14, itemHeight: 8, textStyle: { color: COLORS.axis } },
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
    xAxis: categoryAxis(series.map((bucket) => formatBucket(bucket.start))),
    yAxis: valueAxis({ minInterval: 1 }),
    series: chartSeries,
  }, (params) => {
    const index = params.dataIndex;
    if (index === undefined || !series[index]) return;
    context.drill({
      from: compactInstant(series[index].start),
      to: compactInstant(bucketEnd(series, index, context, interval)),
      ...seriesKinds[params.seriesIndex],
    });
  });
}
