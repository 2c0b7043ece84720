// Rising issues: tags whose share of negative mentions grew most against
// the previous period (only tags with enough negatives to mean something).

import { h, replaceChildren } from '../dom.js';
import { t } from '../i18n.js';
import { formatCount, formatPercent, formatPointChange } from '../format.js';
import { drillLink, emptyState, libraryLabel, rowsOf, tagName } from './common.js';

export function render(body, widget, data, context) {
  const rows = rowsOf(data);
  const footnote = data && data.min_count !== undefined
    ? h('div', { class: 'widget-footnote' }, t('rising.min_count', { count: data.min_count }))
    : null;
  if (rows.length === 0) {
    replaceChildren(body, emptyState(t('rising.none'), t('common.empty_hint')), footnote);
    return;
  }
  replaceChildren(body, h('ol', { class: 'rising-list' }, rows.map((row) => h('li', { class: 'rising-row', dataset: { tag: row.tag } },
    h('div', { class: 'rising-main' },
      drillLink(context, { tag: row.tag, polarity: 'neg' }, tagName(row, context), { class: 'drill tag-link', dataset: { tag: row.tag } }),
      row.library ? h('span', { class: `library-badge library-${row.library}` }, libraryLabel(row.library)) : null),
    h('div', { class: 'rising-figures' },
      h('span', { class: 'rising-share', title: t('rising.share') },
        h('span', { class: 'muted' }, formatPercent(row.previous_share)), ' → ', h('strong', {}, formatPercent(row.share))),
      h('span', { class: `rising-growth ${Number(row.growth) > 0 ? 'change-bad' : 'change-good'}` },
        `${Number(row.growth) > 0 ? '▲' : '▼'} ${formatPointChange(row.growth) ?? '–'}`),
      drillLink(context, { tag: row.tag, polarity: 'neg' },
        `${formatCount(row.neg)} / ${formatCount(row.total)}`, { class: 'drill number muted', title: `${t('ranking.neg')} / ${t('ranking.total')}` }))))),
  footnote);
}
