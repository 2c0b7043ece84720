// Tags ranked by negative mentions, with the previous period and change.
// A ranking is read top-down and clicked per row, so it is a list with CSS
// bars rather than a canvas: every tag and number is a real link.

import { h, replaceChildren } from '../dom.js';
import { t } from '../i18n.js';
import { formatCount, formatSignedCount } from '../format.js';
import { changeArrow, changeClass, drillLink, emptyState, inlineBar, libraryLabel, rowsOf, tagName } from './common.js';

export function render(body, widget, data, context) {
  const rows = rowsOf(data).filter((row) => Number(row.neg) > 0 || Number(row.previous_neg) > 0);
  if (rows.length === 0) {
    replaceChildren(body, emptyState(t('common.empty'), t('common.empty_hint')));
    return;
  }
  const maxNegative = Math.max(...rows.map((row) => Number(row.neg) || 0));
  const negative = (row) => ({ tag: row.tag, polarity: 'neg' });
  replaceChildren(body, h('table', { class: 'ranking' },
    h('thead', {}, h('tr', {},
      h('th', { class: 'col-rank' }, '#'),
      h('th', {}, t('ranking.tag')),
      h('th', { class: 'col-bar' }, t('ranking.neg')),
      h('th', { class: 'col-number' }, t('ranking.previous')),
      h('th', { class: 'col-number' }, t('ranking.change')),
      h('th', { class: 'col-number' }, t('ranking.total')))),
    h('tbody', {}, rows.map((row, index) => h('tr', { dataset: { tag: row.tag } },
      h('td', { class: 'col-rank' }, index < 3 ? h('span', { class: 'rank-badge' }, String(index + 1)) : String(index + 1)),
      h('td', { class: 'col-tag' },
        drillLink(context, negative(row), tagName(row, context), { class: 'drill tag-link', dataset: { tag: row.tag } }),
        row.library ? h('span', { class: `library-badge library-${row.library}` }, libraryLabel(row.library)) : null),
      h('td', { class: 'col-bar' },
        inlineBar(row.neg, maxNegative, 'bar-negative'),
        drillLink(context, negative(row), formatCount(row.neg), { class: 'drill number', dataset: { value: row.neg } })),
      h('td', { class: 'col-number' },
        drillLink(context, { ...negative(row), from: context.previousFrom, to: context.previousTo }, formatCount(row.previous_neg), { class: 'drill number muted' })),
      h('td', { class: `col-number ${changeClass(row.change, true)}` },
        row.change === null || row.change === undefined ? '–' : `${changeArrow(row.change)} ${formatSignedCount(row.change)}`),
      h('td', { class: 'col-number' },
        drillLink(context, { tag: row.tag }, formatCount(row.total), { class: 'drill number muted' })))))));
}
