// Pieces shared by the widget renderers: empty and error states (a widget
// never shows a blank chart), drill-down links and number cells.

import { h, replaceChildren } from '../dom.js';
import { t, valueLabel } from '../i18n.js';
import { chartsAvailable } from '../charts.js';

export function emptyState(message = t('common.empty'), hint = null) {
  return h('div', { class: 'state state-empty', role: 'status' },
    h('div', { class: 'state-icon', 'aria-hidden': 'true' }, '∅'),
    h('div', { class: 'state-title' }, message),
    hint ? h('div', { class: 'state-hint' }, hint) : null);
}

/** A readable error: the service's message (and field), never a stack or a blank. */
export function errorState(error, onRetry = null) {
  const message = error && typeof error.describe === 'function' ? error.describe() : String(error && error.message ? error.message : error);
  return h('div', { class: 'state state-error', role: 'alert' },
    h('div', { class: 'state-icon', 'aria-hidden': 'true' }, '!'),
    h('div', { class: 'state-title' }, t('common.error')),
    h('div', { class: 'state-message error-message' }, message),
    onRetry ? h('button', { type: 'button', class: 'button button-small', onClick: onRetry }, t('common.retry')) : null);
}

export function showEmpty(body, message, hint) {
  replaceChildren(body, emptyState(message, hint));
}

/** Chart widgets call this first: without the vendored library they say so. */
export function chartContainer(body, className = '') {
  if (!chartsAvailable()) {
    replaceChildren(body, h('div', { class: 'state state-error', role: 'alert' },
      h('div', { class: 'state-message error-message' }, t('common.chart_library_missing'))));
    return null;
  }
  let element = body.querySelector(':scope > .chart');
  if (!element) {
    element = h('div', { class: `chart ${className}`.trim() });
    replaceChildren(body, element);
  }
  return element;
}

/** A drill-down link around a number or label. */
export function drillLink(context, extra, children, attributes = {}) {
  return h('a', { class: 'drill', href: context.drillHref(extra), ...attributes }, children);
}

export function tagName(row, context) {
  if (row && row.name) return row.name;
  const tag = row && row.tag ? row.tag : String(row);
  return (context.tagNames && context.tagNames.get(tag)) || tag;
}

export function libraryLabel(library) {
  return library ? valueLabel('library', library) : '';
}

/** Positive changes are red when more is worse (complaints), green when more is better. */
export function changeClass(change, moreIsWorse) {
  if (change === null || change === undefined || !Number.isFinite(Number(change)) || Number(change) === 0) return 'change-flat';
  const up = Number(change) > 0;
  return up === moreIsWorse ? 'change-bad' : 'change-good';
}

export function changeArrow(change) {
  if (change === null || change === undefined || !Number.isFinite(Number(change)) || Number(change) === 0) return '';
  return Number(change) > 0 ? '▲' : '▼';
}

/** A horizontal bar drawn with CSS (ranking tables), width relative to the max. */
export function inlineBar(value, max, className = '') {
  const percent = max > 0 ? Math.max(2, Math.round((Number(value) / max) * 100)) : 0;
  return h('span', { class: `inline-bar ${className}`.trim(), 'aria-hidden': 'true' },
    h('span', { class: 'inline-bar-fill', style: `width: ${percent}%` }));
}

export function rowsOf(data) {
  return data && Array.isArray(data.rows) ? data.rows : [];
}

/** A widget option from the board file: flattened onto the widget or under `options`. */
export function widgetOption(widget, name) {
  if (widget && widget[name] !== undefined) return widget[name];
  return widget && widget.options ? widget.options[name] : undefined;
}
