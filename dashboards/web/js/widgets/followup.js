// Follow-up widgets on a board: the queue's stats tiles and its first page.

import { h, replaceChildren } from '../dom.js';
import { t } from '../i18n.js';
import { buildHash } from '../router.js';
import { formatCount, formatMinutes, formatPercent } from '../format.js';
import { renderQueueItem } from '../followups.js';
import { emptyState } from './common.js';

/** The stats tiles; shared with the follow-up page. */
export function statsTiles(stats) {
  const tile = (key, valueText, href, value) => h(href ? 'a' : 'div', {
    class: `kpi-tile kpi-followup-${key}`, href, dataset: { key, value },
  },
  h('span', { class: 'tile-label' }, t(`followup.${key}`)),
  h('span', { class: 'tile-value' }, valueText));
  return h('div', { class: 'kpi-tiles' },
    tile('open', formatCount(stats.open), buildHash('/followups', { status: 'open' }), stats.open),
    tile('contacted', formatCount(stats.contacted), buildHash('/followups', { status: 'contacted' }), stats.contacted),
    tile('resolved', formatCount(stats.resolved), buildHash('/followups', { status: 'resolved' }), stats.resolved),
    tile('resolution_rate', formatPercent(stats.resolution_rate), null, stats.resolution_rate),
    tile('median_minutes_to_contact', formatMinutes(stats.median_minutes_to_contact), null, stats.median_minutes_to_contact ?? ''));
}

export function renderStats(body, widget, data) {
  if (!data || data.total === undefined) {
    replaceChildren(body, emptyState());
    return;
  }
  replaceChildren(body, statsTiles(data));
}

export function renderQueue(body, widget, data, context) {
  const items = data && Array.isArray(data.items) ? data.items : [];
  if (items.length === 0) {
    replaceChildren(body, emptyState(t('followup.empty')));
    return;
  }
  const compact = Number(widget.width) > 0 && Number(widget.width) < 8;
  replaceChildren(body,
    h('div', { class: 'queue-list' }, items.map((item) => renderQueueItem(item, {
      compact,
      onChanged: () => context.refreshSoon(),
    }))),
    h('div', { class: 'widget-footnote' },
      h('a', { href: buildHash('/followups', { status: 'open' }) }, `${t('common.more')} (${formatCount(data.total ?? items.length)}) →`)));
}
