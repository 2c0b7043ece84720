// The follow-up desk: the queue of negative items worth contacting, by
// status tab (open / contacted / resolved / all), with the stats tiles.
// Changes are saved at once (PATCH) and the stats follow.

import { h, replaceChildren } from '../dom.js';
import { t } from '../i18n.js';
import { api } from '../api.js';
import { navigate } from '../router.js';
import { formatCount } from '../format.js';
import { renderQueueItem, STATUSES } from '../followups.js';
import { emptyState, errorState } from '../widgets/common.js';
import { statsTiles } from '../widgets/followup.js';

export const PAGE_SIZE = 20;

function readState(params) {
  const status = params.get('status');
  return {
    status: STATUSES.includes(status) || status === 'all' ? status : 'open',
    page: Math.max(1, Number.parseInt(params.get('page'), 10) || 1),
  };
}

export function createFollowupsPage(root, params) {
  let state = readState(params);
  let controller = null;
  const stats = h('div', { class: 'followup-stats' });
  const tabs = h('nav', { class: 'tabs', role: 'tablist' });
  const list = h('div', { class: 'queue-list' });
  const pager = h('nav', { class: 'pager' });

  const pageSection = h('section', { class: 'page page-followups', dataset: { state: 'loading' } },
    h('header', { class: 'page-header' }, h('div', {},
      h('h1', { class: 'page-title' }, t('followup.title')),
      h('p', { class: 'page-description' }, t('followup.description')))),
    h('section', { class: 'widget grid-span-12' }, h('div', { class: 'widget-body' }, stats)),
    tabs,
    list,
    pager);
  replaceChildren(root, pageSection);

  function drawTabs(counts) {
    replaceChildren(tabs, [...STATUSES, 'all'].map((status) => h('a', {
      role: 'tab',
      class: `tab${state.status === status ? ' active' : ''}`,
      href: `#/followups?status=${status}`,
      dataset: { status },
      'aria-selected': state.status === status ? 'true' : 'false',
    }, t(`followup.${status}`), counts && counts[status] !== undefined ? h('span', { class: 'tab-count' }, formatCount(counts[status])) : null)));
  }

  async function loadStats() {
    try {
      const answer = await api.followupStats({});
      replaceChildren(stats, statsTiles(answer));
      drawTabs({ open: answer.open, contacted: answer.contacted, resolved: answer.resolved, all: answer.total });
    } catch (error) {
      replaceChildren(stats, errorState(error));
    }
  }

  async function loadQueue() {
    if (controller) controller.abort();
    controller = new AbortController();
    replaceChildren(list, h('div', { class: 'state state-loading' }, t('common.loading')));
    pageSection.dataset.state = 'loading';
    try {
      const answer = await api.followups({
        status: state.status === 'all' ? '' : state.status,
        limit: PAGE_SIZE,
        offset: (state.page - 1) * PAGE_SIZE,
      }, { signal: controller.signal });
      const items = Array.isArray(answer.items) ? answer.items : [];
      if (items.length === 0) {
        replaceChildren(list, emptyState(t('followup.empty')));
      } else {
        // A changed item stays where it is until the next load, so the person
        // sees what they just did; the stats update straight away.
        replaceChildren(list, items.map((item) => renderQueueItem(item, { onChanged: () => loadStats() })));
      }
      const pages = Math.max(1, Math.ceil((Number(answer.total) || 0) / PAGE_SIZE));
      replaceChildren(pager, pages <= 1 ? null : [
        h('button', { type: 'button', class: 'button button-ghost', disabled: state.page <= 1, onClick: () => navigate('/followups', { status: state.status, page: state.page - 1 }) }, `‹ ${t('search.previous_page')}`),
        h('span', { class: 'pager-status muted' }, t('search.page', { page: state.page, pages })),
        h('button', { type: 'button', class: 'button button-ghost', disabled: state.page >= pages, onClick: () => navigate('/followups', { status: state.status, page: state.page + 1 }) }, `${t('search.next_page')} ›`),
      ]);
      pageSection.dataset.state = 'ready';
    } catch (error) {
      if (error.name === 'AbortError') return;
      replaceChildren(list, errorState(error, () => loadQueue()));
      replaceChildren(pager);
      pageSection.dataset.state = 'error';
    }
  }

  drawTabs(null);
  loadStats();
  loadQueue();
  return {
    key: 'followups',
    update(nextParams) {
      state = readState(nextParams);
      drawTabs(null);
      loadStats();
      loadQueue();
    },
    destroy() {
      if (controller) controller.abort();
    },
  };
}
