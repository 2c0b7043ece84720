// KPI tiles: volume, negative rate and per-library satisfaction, each with
// the change against the previous period. Every tile drills into search.

import { h, replaceChildren } from '../dom.js';
import { t } from '../i18n.js';
import { formatCount, formatPercent, formatPointChange, formatRelativeChange } from '../format.js';
import { changeArrow, changeClass, emptyState, libraryLabel } from './common.js';

/** The displayed value of a tile; the browser tests compare it with the API. */
export function tileValueText(tile) {
  return tile.key === 'volume' ? formatCount(tile.value) : formatPercent(tile.value);
}

function tileLabel(tile) {
  if (tile.key === 'satisfaction') {
    return tile.library ? t('kpi.satisfaction_library', { library: libraryLabel(tile.library) }) : t('kpi.satisfaction');
  }
  return t(`kpi.${tile.key}`);
}

function tileDrill(tile) {
  if (tile.key === 'negative_rate') return { sentiment: 'neg' };
  if (tile.key === 'satisfaction' && tile.library) return { library: tile.library };
  return {};
}

function tileChange(tile) {
  const isVolume = tile.key === 'volume';
  const text = isVolume ? formatRelativeChange(tile.change) : formatPointChange(tile.change);
  if (text === null) return h('span', { class: 'tile-change change-flat' }, t('kpi.no_previous'));
  // More complaints is bad; more satisfaction is good; volume is neither.
  const moreIsWorse = tile.key === 'negative_rate';
  const className = isVolume ? 'change-neutral' : changeClass(tile.change, moreIsWorse);
  return h('span', { class: `tile-change ${className}` },
    h('span', { class: 'tile-change-label' }, t('kpi.vs_previous')),
    ` ${changeArrow(tile.change)} ${text}`);
}

export function render(body, widget, data, context) {
  const tiles = data && Array.isArray(data.tiles) ? data.tiles : [];
  if (tiles.length === 0) {
    replaceChildren(body, emptyState());
    return;
  }
  const previousText = (tile) => (tile.key === 'volume' ? formatCount(tile.previous) : formatPercent(tile.previous));
  replaceChildren(body, h('div', { class: 'kpi-tiles' }, tiles.map((tile) =>
    h('a', {
      class: `kpi-tile kpi-${tile.key}`,
      href: context.drillHref(tileDrill(tile)),
      dataset: { key: tile.key, library: tile.library || '', value: tile.value },
    },
    h('span', { class: 'tile-label' }, tileLabel(tile)),
    h('span', { class: 'tile-value' }, tileValueText(tile)),
    h('span', { class: 'tile-footer' },
      tileChange(tile),
      tile.previous !== null && tile.previous !== undefined
        ? h('span', { class: 'tile-previous' }, t('kpi.previous_value', { value: previousText(tile) }))
        : null)))));
}
