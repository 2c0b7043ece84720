// Alert history (GET /api/v1/boards/{id}, widget type `alerts`): the newest
// alerts fired in the board's period, each a link to the pre-filtered search
// page the notification pointed at.

import { h, replaceChildren } from '../dom.js';
import { t } from '../i18n.js';
import { formatDateTime } from '../format.js';
import { emptyState, rowsOf } from './common.js';

/** The in-app part of an alert's link: the notification carries the
 * deployment's public URL, which need not be the host this page came from. */
function searchHref(link) {
  const hash = typeof link === 'string' ? link.indexOf('#') : -1;
  return hash >= 0 ? link.slice(hash) : null;
}

export function render(body, widget, data) {
  const rows = rowsOf(data);
  if (rows.length === 0) {
    replaceChildren(body, emptyState(t('alerts.none')));
    return;
  }
  replaceChildren(body, h('ul', { class: 'alert-list' }, rows.map((row) => {
    const href = searchHref(row.link);
    return h('li', { class: `alert-row alert-${row.severity || 'info'}`, 'data-alert-id': String(row.id) },
      h('span', { class: 'alert-dot', 'aria-hidden': 'true' }),
      h('span', { class: 'alert-severity' }, t(`alerts.severity.${row.severity}`)),
      href ? h('a', { class: 'drill', href }, row.title) : h('span', {}, row.title),
      row.fired_at ? h('span', { class: 'muted alert-time' }, formatDateTime(row.fired_at)) : null);
  })));
}
