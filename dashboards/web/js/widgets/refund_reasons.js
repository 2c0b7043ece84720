// Refund reasons (the platform's menu choice) with the negative tags their
// refunds carry: which product or logistics problem is behind "质量问题".

import { h, replaceChildren } from '../dom.js';
import { t } from '../i18n.js';
import { formatCount } from '../format.js';
import { drillLink, emptyState, inlineBar, rowsOf, tagName } from './common.js';

export function render(body, widget, data, context) {
  const rows = rowsOf(data).filter((row) => Number(row.refunds) > 0);
  if (rows.length === 0) {
    replaceChildren(body, emptyState(t('common.empty'), t('common.empty_hint')));
    return;
  }
  const maximum = Math.max(...rows.map((row) => Number(row.refunds) || 0));
  const reasonFilter = (row) => (row.reason ? { source: 'refund', reason_code: row.reason } : { source: 'refund' });
  replaceChildren(body, h('table', { class: 'ranking refund-table' },
    h('thead', {}, h('tr', {},
      h('th', {}, t('refund.reason')),
      h('th', { class: 'col-bar' }, t('refund.refunds')),
      h('th', {}, t('refund.tags')))),
    h('tbody', {}, rows.map((row) => h('tr', { dataset: { reason: row.reason || '' } },
      h('td', { class: 'col-reason' }, drillLink(context, reasonFilter(row), row.reason || t('refund.no_reason'))),
      h('td', { class: 'col-bar' },
        inlineBar(row.refunds, maximum, 'bar-primary'),
        drillLink(context, reasonFilter(row), formatCount(row.refunds), { class: 'drill number', dataset: { value: row.refunds } })),
      h('td', { class: 'col-tags' }, (Array.isArray(row.tags) ? row.tags : []).filter((tag) => Number(tag.neg) > 0).map((tag) =>
        drillLink(context, { ...reasonFilter(row), tag: tag.tag, polarity: 'neg' },
          [h('span', {}, tagName(tag, context)), h('span', { class: 'chip-count' }, formatCount(tag.neg))],
          { class: 'drill chip chip-negative tag-link', dataset: { tag: tag.tag } }))))))));
}
