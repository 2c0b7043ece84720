// The board filter bar: period (7/30/90-day presets or custom dates),
// interval, source, channel, SKU and category. The filters live in the hash
// (`#/boards/issues?days=7&source=review`) so a view is a shareable link; a
// change rewrites the hash and the board reloads its data in place.

import { h, replaceChildren } from './dom.js';
import { t, valueLabel } from './i18n.js';
import { addDays, todayIn } from './format.js';

export const PERIOD_PRESETS = [7, 30, 90];
export const DEFAULT_DAYS = 30;
export const SOURCES = ['review', 'refund', 'chat', 'call', 'survey'];
const DIMENSIONS = ['source', 'channel', 'sku', 'category'];
const DATE_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

/** The board's time zone, learned from the API's period (UTC+8 until then). */
let boardOffsetMinutes = 480;
export function learnBoardOffset(minutes) {
  if (Number.isFinite(minutes)) boardOffsetMinutes = minutes;
}

/** Hash parameters → the filter state of a board. */
export function readBoardFilters(params) {
  const from = params.get('from') || '';
  const to = params.get('to') || '';
  const days = Number(params.get('days'));
  const state = {
    days: from || to ? null : (PERIOD_PRESETS.includes(days) ? days : DEFAULT_DAYS),
    from,
    to,
    interval: params.get('interval') === 'week' ? 'week' : 'day',
  };
  for (const dimension of DIMENSIONS) state[dimension] = params.get(dimension) || '';
  return state;
}

/** Filter state → hash parameters (defaults left out to keep links short). */
export function boardFiltersToHash(state) {
  const params = {};
  if (state.from || state.to) {
    params.from = state.from;
    params.to = state.to;
  } else if (state.days && state.days !== DEFAULT_DAYS) {
    params.days = state.days;
  }
  if (state.interval === 'week') params.interval = 'week';
  for (const dimension of DIMENSIONS) params[dimension] = state[dimension];
  return params;
}

/**
 * Filter state → board API parameters. A preset is the N local days up to
 * and including today in the board's zone (`to` is exclusive: tomorrow),
 * which is how the API counts its own 30-day default.
 */
export function boardFiltersToApi(state) {
  const params = { interval: state.interval };
  if (state.from || state.to) {
    params.from = state.from;
    params.to = state.to;
  } else {
    const tomorrow = addDays(todayIn(boardOffsetMinutes), 1);
    params.from = addDays(tomorrow, -(state.days || DEFAULT_DAYS));
    params.to = tomorrow;
  }
  for (const dimension of DIMENSIONS) params[dimension] = state[dimension];
  return params;
}

function select(name, label, value, options, onChange) {
  const known = options.some((option) => option.value === value);
  // Each option names its filter, so a chosen value still says what it filters.
  const text = (optionLabel) => t('filters.select_label', { label, value: optionLabel });
  const element = h('select', { class: 'select', name, 'aria-label': label, onChange: (event) => onChange(event.target.value) },
    h('option', { value: '' }, text(t('common.all'))),
    options.map((option) => h('option', { value: option.value }, text(option.label))),
    // A value from a shared link that is not among the options still shows.
    value && !known ? h('option', { value }, text(value)) : null);
  element.value = value;
  return element;
}

/** `options` = {channel: [{value, count}], sku: [...], category: [...]} from search facets. */
export function renderFilterBar(container, state, options, onChange, onRefresh) {
  const change = (patch) => onChange({ ...state, ...patch });
  const custom = !state.days;
  const fromInput = h('input', {
    type: 'date', class: 'input input-date', name: 'from', 'aria-label': t('filters.from'),
    value: DATE_PATTERN.test(state.from) ? state.from : (state.from || '').slice(0, 10),
  });
  // The API's `to` is exclusive; people pick the last day they want to see.
  const toDate = (state.to || '').slice(0, 10);
  const toInput = h('input', {
    type: 'date', class: 'input input-date', name: 'to', 'aria-label': t('filters.to'),
    value: DATE_PATTERN.test(toDate) ? addDays(toDate, -1) : '',
  });
  const applyCustom = () => {
    if (fromInput.value && toInput.value) change({ days: null, from: fromInput.value, to: addDays(toInput.value, 1) });
  };
  fromInput.addEventListener('change', applyCustom);
  toInput.addEventListener('change', applyCustom);
  const optionList = (name) => (options[name] || []).map((option) => ({
    value: option.value, label: `${name === 'source' ? valueLabel('source', option.value) : option.value} (${option.count})`,
  }));
  replaceChildren(container,
    h('div', { class: 'filter-group' },
      h('span', { class: 'filter-label' }, t('filters.period')),
      h('div', { class: 'segmented', role: 'group' },
        PERIOD_PRESETS.map((days) => h('button', {
          type: 'button', class: `segment${state.days === days ? ' active' : ''}`, dataset: { days },
          onClick: () => change({ days, from: '', to: '' }),
        }, t('filters.last_days', { days }))),
        h('button', {
          type: 'button', class: `segment${custom ? ' active' : ''}`, dataset: { days: 'custom' },
          onClick: () => {
            if (!custom) {
              const api = boardFiltersToApi(state);
              change({ days: null, from: api.from, to: api.to });
            }
          },
        }, t('filters.custom'))),
      custom ? h('span', { class: 'date-range' }, fromInput, h('span', { class: 'muted' }, '—'), toInput) : null),
    h('div', { class: 'filter-group' },
      h('span', { class: 'filter-label' }, t('filters.interval')),
      h('div', { class: 'segmented', role: 'group' },
        ['day', 'week'].map((interval) => h('button', {
          type: 'button', class: `segment${state.interval === interval ? ' active' : ''}`, dataset: { interval },
          onClick: () => change({ interval }),
        }, t(`filters.${interval}`))))),
    h('div', { class: 'filter-group filter-selects' },
      select('source', t('filters.source'), state.source,
        SOURCES.map((source) => ({ value: source, label: valueLabel('source', source) })), (value) => change({ source: value })),
      select('channel', t('filters.channel'), state.channel, optionList('channel'), (value) => change({ channel: value })),
      select('sku', t('filters.sku'), state.sku, optionList('sku'), (value) => change({ sku: value })),
      select('category', t('filters.category'), state.category, optionList('category'), (value) => change({ category: value }))),
    h('div', { class: 'filter-group filter-actions' },
      h('button', {
        type: 'button', class: 'button button-ghost', dataset: { action: 'reset' },
        onClick: () => onChange(readBoardFilters(new URLSearchParams())),
      }, t('filters.reset')),
      h('button', { type: 'button', class: 'button button-ghost', dataset: { action: 'refresh' }, onClick: onRefresh }, `⟳ ${t('filters.refresh')}`)));
}
