// The search page for product designers: query box (cut by jieba on the
// server), facets with counts (click to filter, click again to remove),
// date range, sort, paging, CSV export of the current filters, and results
// whose query matches are <mark>ed and whose tag evidence is underlined.
// Text from the API is only ever put into text nodes (see dom.js).

import { decorateText, h, replaceChildren, saveBlob } from '../dom.js';
import { t, valueLabel } from '../i18n.js';
import { api } from '../api.js';
import { navigate } from '../router.js';
import { addDays, formatCount, formatDateTime } from '../format.js';
import { emptyState, errorState } from '../widgets/common.js';
import { shared } from '../shared.js';

export const PAGE_SIZE = 20;
const MAX_OFFSET = 10_000;
const FILTER_KEYS = ['q', 'tag', 'library', 'polarity', 'sentiment', 'source', 'channel', 'sku', 'category', 'reason_code', 'consumer_id', 'from', 'to'];
const FACET_ORDER = ['tag', 'library', 'polarity', 'sentiment', 'source', 'channel', 'sku', 'category', 'reason_code'];
const FACET_PREVIEW = 8;
const DATE_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

/** Hash parameters → search state (filters, sort, page). */
export function readSearchState(params) {
  const state = {};
  for (const key of FILTER_KEYS) state[key] = params.get(key) || '';
  state.sort = params.get('sort') === 'newest' ? 'newest' : 'relevance';
  state.page = Math.max(1, Number.parseInt(params.get('page'), 10) || 1);
  return state;
}

function filtersOf(state) {
  const filters = {};
  for (const key of FILTER_KEYS) if (state[key]) filters[key] = state[key];
  if (state.sort !== 'relevance') filters.sort = state.sort;
  return filters;
}

function toHash(state) {
  return { ...filtersOf(state), page: state.page > 1 ? state.page : '' };
}

function facetValueLabel(facet, value) {
  if (facet === 'tag') return shared.tagNames.get(value) || value;
  if (facet === 'library') return valueLabel('library', value);
  if (facet === 'polarity' || facet === 'sentiment') return valueLabel('polarity', value);
  if (facet === 'source') return valueLabel('source', value);
  return value;
}

function filterChipLabel(key, value) {
  if (key === 'from' || key === 'to') {
    const date = value.slice(0, 10);
    // `to` is exclusive in the API; show the last day included.
    const shown = key === 'to' && DATE_PATTERN.test(value) ? addDays(date, -1) : (DATE_PATTERN.test(value) ? value : formatDateTime(value));
    return t('filters.select_label', { label: t(`facet.${key}`), value: shown });
  }
  return t('filters.select_label', { label: t(`facet.${key}`), value: facetValueLabel(key, value) });
}

/** Client-side fallback when an answer has no `highlights`: the query words found in the text. */
function fallbackHighlights(text, query) {
  const codePoints = Array.from(text || '');
  const words = (query || '').split(/\s+/).filter(Boolean).map((word) => Array.from(word));
  const ranges = [];
  for (const word of words) {
    for (let start = 0; start + word.length <= codePoints.length; start += 1) {
      if (word.every((character, index) => codePoints[start + index] === character)) ranges.push([start, start + word.length]);
    }
  }
  return ranges;
}

function hitText(hit, query) {
  const tags = Array.isArray(hit.tags) ? hit.tags : [];
  // Only evidence that points into `text` is underlined; a refund tag backed
  // by the menu reason (`field: "reason_code"`) has nothing to underline.
  const evidenceRanges = tags
    .filter((tag) => tag.evidence && Array.isArray(tag.evidence.span) && !tag.evidence.field)
    .map((tag) => [tag.evidence.span[0], tag.evidence.span[1], tag]);
  const highlightRanges = Array.isArray(hit.highlights) ? hit.highlights : fallbackHighlights(hit.text, query);
  return h('p', { class: 'hit-text' }, decorateText(hit.text || '', [
    {
      ranges: evidenceRanges,
      wrap: (children, covering) => {
        const coveringTags = covering.map((range) => range[2]);
        const polarity = coveringTags.some((tag) => tag.polarity === 'neg') ? 'neg' : coveringTags.some((tag) => tag.polarity === 'pos') ? 'pos' : 'neu';
        return h('span', {
          class: `evidence evidence-${polarity}`,
          dataset: { tags: coveringTags.map((tag) => tag.tag).join(' ') },
          title: coveringTags.map((tag) => `${tag.name || tag.tag}（${valueLabel('polarity', tag.polarity)}）`).join('、'),
        }, children);
      },
    },
    { ranges: highlightRanges, wrap: (children) => h('mark', {}, children) },
  ]));
}

function renderHit(hit, state, setFilter) {
  const tags = Array.isArray(hit.tags) ? hit.tags : [];
  const card = h('article', { class: 'hit', dataset: { id: hit.id } });
  const chips = tags.map((tag) => {
    const evidence = tag.evidence || {};
    const evidenceText = evidence.field === 'reason_code'
      ? t('search.evidence_reason', { text: evidence.text || '' })
      : (evidence.text ? t('search.evidence', { text: evidence.text }) : '');
    const chip = h('button', {
      type: 'button',
      class: `chip chip-${tag.polarity === 'neg' ? 'negative' : tag.polarity === 'pos' ? 'positive' : 'neutral'} hit-tag`,
      title: evidenceText,
      dataset: { tag: tag.tag, polarity: tag.polarity },
      onClick: () => setFilter({ tag: tag.tag, polarity: tag.polarity }),
    }, h('span', {}, tag.name || shared.tagNames.get(tag.tag) || tag.tag), h('span', { class: 'chip-polarity' }, valueLabel('polarity', tag.polarity)));
    // Hovering a tag lights up its evidence in the text.
    const toggle = (on) => {
      for (const span of card.querySelectorAll('.evidence')) {
        if (span.dataset.tags.split(' ').includes(tag.tag)) span.classList.toggle('evidence-active', on);
      }
    };
    chip.addEventListener('mouseenter', () => toggle(true));
    chip.addEventListener('mouseleave', () => toggle(false));
    return chip;
  });
  const metadata = [
    h('span', { class: `badge source-badge source-${hit.source}` }, valueLabel('source', hit.source)),
    hit.channel ? h('span', {}, hit.channel) : null,
    hit.sku ? h('span', {}, `SKU ${hit.sku}`) : null,
    hit.product_name ? h('span', {}, hit.product_name) : null,
    hit.category ? h('span', {}, hit.category) : null,
    hit.rating ? h('span', { class: 'rating', title: t('search.rating', { rating: hit.rating }) }, '★'.repeat(Number(hit.rating)) + '☆'.repeat(Math.max(0, 5 - Number(hit.rating)))) : null,
    hit.sentiment ? h('span', { class: `sentiment sentiment-${hit.sentiment}` }, t('search.sentiment', { sentiment: valueLabel('polarity', hit.sentiment) })) : null,
    hit.consumer_id ? h('span', {}, t('search.consumer', { id: hit.consumer_id })) : null,
    h('time', { datetime: hit.created_at }, formatDateTime(hit.created_at)),
  ].filter(Boolean);
  replaceChildren(card,
    h('div', { class: 'hit-meta muted' }, metadata),
    hitText(hit, state.q),
    chips.length ? h('div', { class: 'hit-tags' }, chips) : null);
  return card;
}

export function createSearchPage(root, params) {
  let state = readSearchState(params);
  let controller = null;

  const queryInput = h('input', {
    type: 'search', class: 'input input-query', name: 'q', placeholder: t('search.placeholder'), value: state.q, 'aria-label': t('search.submit'),
  });
  const fromInput = h('input', { type: 'date', class: 'input input-date', name: 'from', 'aria-label': t('search.from') });
  const toInput = h('input', { type: 'date', class: 'input input-date', name: 'to', 'aria-label': t('search.to') });
  const sortSelect = h('select', { class: 'select', name: 'sort', 'aria-label': t('search.sort') },
    h('option', { value: 'relevance' }, t('filters.select_label', { label: t('search.sort'), value: t('search.sort.relevance') })),
    h('option', { value: 'newest' }, t('filters.select_label', { label: t('search.sort'), value: t('search.sort.newest') })));
  // A button, not a link: the export is fetched with the API key header
  // and handed to the browser as a file (dom.js saveBlob).
  const exportButton = h('button', { type: 'button', class: 'button button-ghost export-link', dataset: { state: 'idle' } }, `⇩ ${t('search.export')}`);
  const exportError = h('span', { class: 'export-error', role: 'alert' });
  let exportController = null;
  const activeFilters = h('div', { class: 'active-filters' });
  const facetsColumn = h('aside', { class: 'facets', 'aria-label': 'facets' });
  const totalLine = h('div', { class: 'search-total-line' });
  const results = h('div', { class: 'results' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'pages' });

  const go = (next) => navigate('/search', toHash(next));
  const setFilter = (patch) => go({ ...state, ...patch, page: 1 });

  const form = h('form', { class: 'search-form', role: 'search' },
    queryInput,
    h('button', { type: 'submit', class: 'button button-primary' }, t('search.submit')),
    h('span', { class: 'date-range' }, fromInput, h('span', { class: 'muted' }, '—'), toInput),
    sortSelect,
    exportButton,
    exportError);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    setFilter({ q: queryInput.value.trim() });
  });
  fromInput.addEventListener('change', () => setFilter({ from: fromInput.value }));
  // The API's `to` is exclusive; the input holds the last day wanted.
  toInput.addEventListener('change', () => setFilter({ to: toInput.value ? addDays(toInput.value, 1) : '' }));
  sortSelect.addEventListener('change', () => setFilter({ sort: sortSelect.value }));
  exportButton.addEventListener('click', () => downloadExport());

  /** The whole current result set as CSV, with the filters shown on screen. */
  async function downloadExport() {
    if (exportController) exportController.abort();
    exportController = new AbortController();
    exportButton.disabled = true;
    exportButton.dataset.state = 'loading';
    replaceChildren(exportError);
    try {
      const { blob, filename } = await api.exportCsv(filtersOf(state), { signal: exportController.signal });
      saveBlob(blob, filename || 'xinsheng-search.csv');
      exportButton.dataset.state = 'done';
    } catch (error) {
      if (error.name === 'AbortError') return;
      replaceChildren(exportError, error.describe ? error.describe() : error.message);
      exportButton.dataset.state = 'error';
    } finally {
      exportButton.disabled = false;
    }
  }

  const pageSection = h('section', { class: 'page page-search', dataset: { state: 'loading' } },
    h('header', { class: 'page-header' }, h('div', {},
      h('h1', { class: 'page-title' }, t('search.title')),
      h('p', { class: 'page-description' }, t('search.description')))),
    form,
    activeFilters,
    h('div', { class: 'search-layout' }, facetsColumn, h('div', { class: 'search-main' }, totalLine, results, pager)));
  replaceChildren(root, pageSection);

  function drawControls() {
    queryInput.value = state.q;
    fromInput.value = state.from ? state.from.slice(0, 10) : '';
    toInput.value = state.to ? (DATE_PATTERN.test(state.to) ? addDays(state.to, -1) : state.to.slice(0, 10)) : '';
    sortSelect.value = state.sort;
    replaceChildren(exportError);
    const active = FILTER_KEYS.filter((key) => key !== 'q' && state[key]);
    replaceChildren(activeFilters, active.length === 0 ? null : [
      h('span', { class: 'muted' }, t('search.active_filters')),
      active.map((key) => h('button', {
        type: 'button', class: 'chip chip-filter', dataset: { filter: key, value: state[key] },
        onClick: () => setFilter({ [key]: '' }),
      }, filterChipLabel(key, state[key]), h('span', { class: 'chip-remove', 'aria-hidden': 'true' }, '×'))),
      h('button', {
        type: 'button', class: 'link-button', dataset: { action: 'clear' },
        onClick: () => go({ ...readSearchState(new URLSearchParams()), q: state.q, sort: state.sort }),
      }, t('search.clear')),
    ]);
  }

  function drawFacets(facets) {
    replaceChildren(facetsColumn, FACET_ORDER.filter((name) => facets[name] && Object.keys(facets[name]).length > 0).map((name) => {
      const entries = Object.entries(facets[name]).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
      const list = h('ul', { class: 'facet-values' });
      const drawList = (expanded) => {
        replaceChildren(list, (expanded ? entries : entries.slice(0, FACET_PREVIEW)).map(([value, count]) => {
          const active = state[name] === value;
          return h('li', {}, h('button', {
            type: 'button', class: `facet-value${active ? ' active' : ''}`, dataset: { facet: name, value, count },
            'aria-pressed': active ? 'true' : 'false',
            onClick: () => setFilter({ [name]: active ? '' : value }),
          }, h('span', { class: 'facet-label' }, facetValueLabel(name, value)), h('span', { class: 'facet-count' }, formatCount(count))));
        }));
      };
      drawList(false);
      const more = entries.length > FACET_PREVIEW
        ? h('button', {
          type: 'button', class: 'link-button facet-more',
          onClick: (event) => {
            const expanded = event.currentTarget.dataset.expanded !== 'true';
            event.currentTarget.dataset.expanded = String(expanded);
            event.currentTarget.textContent = expanded ? t('facet.show_less') : t('facet.show_more');
            drawList(expanded);
          },
        }, t('facet.show_more'))
        : null;
      return h('section', { class: 'facet', dataset: { facet: name } }, h('h3', { class: 'facet-title' }, t(`facet.${name}`)), list, more);
    }));
  }

  function drawPager(total) {
    const pages = Math.max(1, Math.ceil(Math.min(total, MAX_OFFSET + PAGE_SIZE) / PAGE_SIZE));
    if (pages <= 1) {
      replaceChildren(pager);
      return;
    }
    replaceChildren(pager,
      h('button', { type: 'button', class: 'button button-ghost', disabled: state.page <= 1, dataset: { action: 'previous' }, onClick: () => go({ ...state, page: state.page - 1 }) }, `‹ ${t('search.previous_page')}`),
      h('span', { class: 'pager-status muted' }, t('search.page', { page: state.page, pages })),
      h('button', { type: 'button', class: 'button button-ghost', disabled: state.page >= pages, dataset: { action: 'next' }, onClick: () => go({ ...state, page: state.page + 1 }) }, `${t('search.next_page')} ›`));
  }

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    drawControls();
    pageSection.dataset.state = 'loading';
    replaceChildren(results, h('div', { class: 'state state-loading' }, t('common.loading')));
    const offset = Math.min((state.page - 1) * PAGE_SIZE, MAX_OFFSET);
    try {
      const answer = await api.search({ ...filtersOf(state), limit: PAGE_SIZE, offset }, { signal: controller.signal });
      const total = Number(answer.total) || 0;
      replaceChildren(totalLine, h('span', { class: 'search-total', dataset: { total } }, t('search.total', { total: formatCount(total) })));
      drawFacets(answer.facets || {});
      const hits = Array.isArray(answer.hits) ? answer.hits : [];
      if (hits.length === 0) {
        replaceChildren(results, emptyState(t('search.no_hits'), t('search.no_hits_hint')));
      } else {
        replaceChildren(results, hits.map((hit) => renderHit(hit, state, setFilter)));
      }
      drawPager(total);
      pageSection.dataset.state = 'ready';
    } catch (error) {
      if (error.name === 'AbortError') return;
      replaceChildren(totalLine);
      replaceChildren(facetsColumn);
      replaceChildren(pager);
      replaceChildren(results, errorState(error));
      pageSection.dataset.state = 'error';
    }
  }

  load();
  return {
    key: 'search',
    update(nextParams) {
      state = readSearchState(nextParams);
      load();
      window.scrollTo(0, 0);
    },
    destroy() {
      if (controller) controller.abort();
      if (exportController) exportController.abort();
    },
  };
}
