// Start-up and routing. Pages are objects with `key`, `update(params)` and
// `destroy()`: a hash change within the same page (new filters) updates it
// in place; moving to another page destroys the old one (timers, charts).

import { h, replaceChildren } from './dom.js';
import { applyStaticLabels, language, localized, setLanguage, t } from './i18n.js';
import { api } from './api.js';
import { buildHash, parseHash } from './router.js';
import { shared } from './shared.js';
import { errorState, emptyState } from './widgets/common.js';
import { createBoardPage } from './pages/board.js';
import { createSearchPage } from './pages/search.js';
import { createFollowupsPage } from './pages/followups.js';

const app = document.getElementById('app');
let currentPage = null;

function pageKey(segments) {
  if (segments[0] === 'boards' && segments[1]) return `board:${segments[1]}`;
  return segments[0] || '';
}

function drawNavigation() {
  const list = document.getElementById('nav-boards');
  const { segments } = parseHash();
  const activeKey = pageKey(segments);
  if (shared.boardsError) {
    replaceChildren(list, h('li', { class: 'nav-error' }, errorState(shared.boardsError)));
  } else if (shared.boards && shared.boards.length === 0) {
    replaceChildren(list, h('li', { class: 'nav-empty muted' }, t('board.no_boards')));
  } else {
    replaceChildren(list, (shared.boards || []).map((board) => h('li', {},
      h('a', {
        href: buildHash(`/boards/${encodeURIComponent(board.id)}`),
        class: activeKey === `board:${board.id}` ? 'active' : '',
        dataset: { board: board.id },
      },
      h('span', { class: `nav-icon nav-icon-${board.library || 'board'}` }, '▦'),
      h('span', {}, localized(board.title) || board.id)))));
  }
  for (const link of document.querySelectorAll('.sidebar a[data-route]')) {
    link.classList.toggle('active', activeKey === link.dataset.route);
  }
}

function drawLanguageSwitch() {
  for (const button of document.querySelectorAll('.lang-switch button')) {
    button.classList.toggle('active', button.dataset.lang === language());
    button.setAttribute('aria-pressed', button.dataset.lang === language() ? 'true' : 'false');
  }
}

function route({ rebuild = false } = {}) {
  const { segments, params } = parseHash();
  if (segments.length === 0) {
    const first = shared.boards && shared.boards[0];
    window.location.replace(first ? buildHash(`/boards/${encodeURIComponent(first.id)}`) : buildHash('/search'));
    return;
  }
  drawNavigation();
  const key = pageKey(segments);
  if (currentPage && currentPage.key === key && !rebuild) {
    currentPage.update(params);
    return;
  }
  if (currentPage) currentPage.destroy();
  currentPage = null;
  if (segments[0] === 'boards' && segments[1]) {
    currentPage = createBoardPage(app, segments[1], params);
  } else if (segments[0] === 'search') {
    currentPage = createSearchPage(app, params);
  } else if (segments[0] === 'followups') {
    currentPage = createFollowupsPage(app, params);
  } else {
    replaceChildren(app, h('section', { class: 'page' }, emptyState(t('common.not_found'))));
  }
}

async function loadShared() {
  const [boards, tags] = await Promise.allSettled([api.boards(), api.tags()]);
  if (boards.status === 'fulfilled') {
    shared.boards = Array.isArray(boards.value.boards) ? boards.value.boards : [];
    shared.boardsError = null;
  } else {
    shared.boards = [];
    shared.boardsError = boards.reason;
  }
  if (tags.status === 'fulfilled' && Array.isArray(tags.value.tags)) {
    for (const tag of tags.value.tags) {
      if (tag && tag.id) shared.tagNames.set(tag.id, tag.name || tag.id);
    }
  }
}

async function start() {
  setLanguage(language());
  applyStaticLabels();
  drawLanguageSwitch();
  for (const button of document.querySelectorAll('.lang-switch button')) {
    button.addEventListener('click', () => {
      if (button.dataset.lang === language()) return;
      setLanguage(button.dataset.lang);
      applyStaticLabels();
      drawLanguageSwitch();
      route({ rebuild: true });
    });
  }
  replaceChildren(app, h('div', { class: 'state state-loading' }, t('common.loading')));
  await loadShared();
  window.addEventListener('hashchange', () => route());
  route();
}

start();
