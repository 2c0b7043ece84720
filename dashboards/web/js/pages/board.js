// A board page: header, filter bar and a 12-column grid of widgets laid out
// from the board definition the API returns. Data reloads on filter change
// and every `refresh_seconds` of the board (60 s by default) without
// reloading the page; a failed refresh keeps the last numbers on screen and
// says so in the top bar.

import { h, replaceChildren } from '../dom.js';
import { t, localized, valueLabel } from '../i18n.js';
import { api, ApiError } from '../api.js';
import { navigate, searchHref } from '../router.js';
import { compactInstant, formatDate, addDays, utcOffsetMinutes } from '../format.js';
import { boardFiltersToApi, boardFiltersToHash, learnBoardOffset, readBoardFilters, renderFilterBar } from '../filters.js';
import { renderWidget } from '../widgets/index.js';
import { errorState } from '../widgets/common.js';
import { disposeCharts, releaseDetachedCharts } from '../charts.js';
import { setRefreshStatus, shared } from '../shared.js';

export const DEFAULT_REFRESH_MS = 60_000;
const MAX_FACET_OPTIONS = 200;

/** Search facets (channels, SKUs, categories with counts) for the filter selects. */
async function loadFilterOptions(apiParams, signal) {
  const facets = (await api.search({ from: apiParams.from, to: apiParams.to, limit: 0 }, { signal })).facets || {};
  const options = {};
  for (const name of ['channel', 'sku', 'category']) {
    options[name] = Object.entries(facets[name] || {})
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, MAX_FACET_OPTIONS)
      .map(([value, count]) => ({ value, count }));
  }
  return options;
}

/** "2026-10-25 至 2026-11-23": `to` is exclusive, people read the last day included. */
function periodText(period) {
  if (!period || !period.from || !period.to) return '';
  const lastDay = (to) => {
    const date = formatDate(to);
    return /T00:00(:00)?/.test(to) ? addDays(date, -1) : date;
  };
  const current = t('board.period', { from: formatDate(period.from), to: lastDay(period.to) });
  if (!period.previous_from || !period.previous_to) return current;
  return `${current} · ${t('board.previous', { from: formatDate(period.previous_from), to: lastDay(period.previous_to) })}`;
}

export function createBoardPage(root, boardId, params) {
  let filters = readBoardFilters(params);
  let filterOptions = {};
  let layoutSignature = null;
  let widgetBodies = new Map();
  let loadCounter = 0;
  let controller = null;
  let refreshSoonTimer = null;

  const summary = shared.boards ? shared.boards.find((board) => board.id === boardId) : null;
  const title = h('h1', { class: 'page-title' }, summary ? localized(summary.title) : boardId);
  const description = h('p', { class: 'page-description' }, summary ? localized(summary.description) : '');
  const periodLine = h('div', { class: 'page-period muted' });
  const filterBar = h('div', { class: 'filter-bar', role: 'search' });
  const grid = h('div', { class: 'board-grid', dataset: { board: boardId } },
    h('div', { class: 'state state-loading grid-span-12' }, t('common.loading')));
  // `data-state` (loading → ready | error) and `data-loads` tell the browser
  // tests when a load has finished, instead of sleeping.
  const pageSection = h('section', { class: 'page page-board', dataset: { board: boardId, state: 'loading', loads: 0 } },
    h('header', { class: 'page-header' }, h('div', {}, title, description), periodLine),
    filterBar,
    grid);
  replaceChildren(root, pageSection);
  const finished = (state) => {
    pageSection.dataset.state = state;
    pageSection.dataset.loads = String(Number(pageSection.dataset.loads) + 1);
  };

  function onFiltersChanged(next) {
    navigate(`/boards/${encodeURIComponent(boardId)}`, boardFiltersToHash(next));
  }

  function drawFilterBar() {
    renderFilterBar(filterBar, filters, filterOptions, onFiltersChanged, () => load());
  }

  function widgetContext(answer) {
    const period = answer.period || {};
    const boardFilters = answer.filters || {};
    const library = answer.board && answer.board.library ? answer.board.library : (boardFilters.library || null);
    const drillBase = {
      from: compactInstant(period.from),
      to: compactInstant(period.to),
      source: boardFilters.source ?? filters.source,
      channel: boardFilters.channel ?? filters.channel,
      sku: boardFilters.sku ?? filters.sku,
      category: boardFilters.category ?? filters.category,
      library,
    };
    // A library board counts only items mentioning its library, so its
    // drill-downs carry `library=` too: the search then counts what the widget counted.
    const drillHref = (extra = {}) => searchHref({ ...drillBase, ...extra });
    return {
      period,
      library,
      previousFrom: compactInstant(period.previous_from),
      previousTo: compactInstant(period.previous_to),
      tagNames: shared.tagNames,
      drillHref,
      drill: (extra) => { window.location.hash = drillHref(extra); },
      refreshSoon: () => {
        window.clearTimeout(refreshSoonTimer);
        refreshSoonTimer = window.setTimeout(() => load({ quiet: true }), 800);
      },
    };
  }

  function buildGrid(widgets) {
    disposeCharts(grid);
    widgetBodies = new Map();
    replaceChildren(grid, widgets.map((widget) => {
      const width = Math.min(12, Math.max(1, Number(widget.width) || 12));
      const body = h('div', { class: 'widget-body' });
      widgetBodies.set(widget.id, body);
      return h('section', {
        class: `widget widget-${widget.type} grid-span-${width}`,
        dataset: { widget: widget.id, type: widget.type },
      },
      h('header', { class: 'widget-header' },
        h('h2', { class: 'widget-title' }, localized(widget.title) || widget.id)),
      body);
    }));
  }

  function renderAnswer(answer) {
    const board = answer.board || {};
    const widgets = Array.isArray(board.widgets) ? board.widgets : [];
    title.textContent = localized(board.title) || boardId;
    scheduleRefresh(board.refresh_seconds);
    description.textContent = localized(board.description) || '';
    const scope = board.library ? t('board.library_scope', { library: valueLabel('library', board.library) }) : '';
    periodLine.textContent = [periodText(answer.period), scope].filter(Boolean).join(' · ');
    learnBoardOffset(utcOffsetMinutes(answer.period && answer.period.from));
    const signature = JSON.stringify(widgets.map((widget) => [widget.id, widget.type, widget.width, widget.title]));
    if (signature !== layoutSignature) {
      buildGrid(widgets);
      layoutSignature = signature;
    }
    if (widgets.length === 0) {
      replaceChildren(grid, h('div', { class: 'grid-span-12' }, errorState(new ApiError(0, 'empty_board', t('common.widget_no_data')))));
      layoutSignature = null;
      return;
    }
    const context = widgetContext(answer);
    const data = answer.widgets || {};
    for (const widget of widgets) {
      renderWidget(widgetBodies.get(widget.id), widget, data[widget.id], context);
    }
    releaseDetachedCharts();
  }

  async function load({ quiet = false } = {}) {
    const thisLoad = ++loadCounter;
    if (controller) controller.abort();
    controller = new AbortController();
    const { signal } = controller;
    const apiParams = boardFiltersToApi(filters);
    if (!quiet) pageSection.dataset.state = 'loading';
    try {
      const [answer, options] = await Promise.all([
        api.board(boardId, apiParams, { signal }),
        // The filter options are a convenience: without them the selects still work.
        loadFilterOptions(apiParams, signal).catch((error) => {
          if (error.name === 'AbortError') throw error;
          return filterOptions;
        }),
      ]);
      if (thisLoad !== loadCounter) return;
      filterOptions = options;
      drawFilterBar();
      renderAnswer(answer);
      finished('ready');
      setRefreshStatus(t('common.updated', { time: new Date().toLocaleTimeString('zh-CN', { hour12: false }) }), false);
    } catch (error) {
      if (error.name === 'AbortError' || thisLoad !== loadCounter) return;
      if (layoutSignature && quiet) {
        // Keep the last good numbers; say that they are stale.
        setRefreshStatus(t('common.refresh_failed', { message: error.describe ? error.describe() : error.message }), true);
        finished('ready');
        return;
      }
      layoutSignature = null;
      disposeCharts(grid);
      replaceChildren(grid, h('div', { class: 'grid-span-12' }, errorState(error, () => load())));
      setRefreshStatus(t('common.refresh_failed', { message: error.describe ? error.describe() : error.message }), true);
      finished('error');
    }
  }

  // The board file sets how often its data reloads (`refresh_seconds`).
  let timer = null;
  let refreshMilliseconds = null;
  function scheduleRefresh(seconds) {
    const milliseconds = Number(seconds) > 0 ? Number(seconds) * 1000 : DEFAULT_REFRESH_MS;
    if (milliseconds === refreshMilliseconds) return;
    refreshMilliseconds = milliseconds;
    window.clearInterval(timer);
    timer = window.setInterval(() => load({ quiet: true }), milliseconds);
  }

  drawFilterBar();
  scheduleRefresh(summary ? summary.refresh_seconds : null);
  load();

  return {
    key: `board:${boardId}`,
    update(nextParams) {
      filters = readBoardFilters(nextParams);
      drawFilterBar();
      load();
    },
    destroy() {
      window.clearInterval(timer);
      window.clearTimeout(refreshSoonTimer);
      if (controller) controller.abort();
      disposeCharts(grid);
    },
  };
}
