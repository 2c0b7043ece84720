// Alerts (issue 6). The shape of a row is not settled yet, so a row shows
// its message/title/name and its tag when it has them; no rows (or no data
// at all, before the alerts backend exists) reads "暂无告警".

import { h, replaceChildren } from '../dom.js';
import { t } from '../i18n.js';
import { formatDateTime } from '../format.js';
import { emptyState, rowsOf, tagName } from './common.js';

function rowText(row) {
  if (typeof row === 'string') return row;
  return row.message || row.title || row.summary || row.name || row.tag || JSON.stringify(row);
}

export function render(body, widget, data, context) {
  const rows = rowsOf(data);
  if (rows.length === 0) {
    replaceChildren(body, emptyState(t('alerts.none')));
    return;
  }
  replaceChildren(body, h('ul', { class: 'alert-list' }, rows.map((row) => h('li', { class: `alert-row alert-${row.level || row.severity || 'info'}` },
    h('span', { class: 'alert-dot', 'aria-hidden': 'true' }),
    row.tag
      ? h('a', { class: 'drill', href: context.drillHref({ tag: row.tag, polarity: 'neg' }) }, rowText({ ...row, tag: tagName(row, context) }))
      : h('span', {}, rowText(row)),
    row.created_at ? h('span', { class: 'muted alert-time' }, formatDateTime(row.created_at)) : null))));
}
