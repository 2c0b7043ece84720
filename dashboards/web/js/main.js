// Start-up, signing in and out, and routing. Pages are objects with `key`,
// `update(params)` and `destroy()`: a hash change within the same page (new
// filters) updates it in place; moving to another page destroys the old one
// (timers, charts).
//
// Signed out (no stored key, or the service answered 401) the sign-in view
// replaces the page and the navigation; the hash is left as it was, so a
// shared link opens where it points once the person has signed in.

import { h, replaceChildren } from './dom.js';
import { applyStaticLabels, language, localized, setLanguage, t } from './i18n.js';
import { api } from './api.js';
import {
  adoptKeyFromFragment, forgetKey, isKeyStorageEvent, onUnauthorised, storeKey, storedKey,
} from './auth.js';
import { buildHash, parseHash } from './router.js';
import { setRefreshStatus, shared } from './shared.js';
import { errorState, emptyState } from './widgets/common.js';
import { createBoardPage } from './pages/board.js';
import { createSearchPage } from './pages/search.js';
import { createFollowupsPage } from './pages/followups.js';
import { createSignInPage } from './pages/signin.js';

const app = document.getElementById('app');
let currentPage = null;
let signedIn = false;
// True while a sign-in loads the board list: routing waits for it.
let entering = false;
// Why the sign-in view is shown, as a label key (kept to redraw it in
// another language).
let signInNotice = null;
// Bumped on every sign-in and sign-out, so a slow start-up of an ended
// session does not draw over the next one.
let session = 0;

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
  if (!signedIn || entering) return;
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

function leavePage() {
  if (currentPage) currentPage.destroy();
  currentPage = null;
}

function showSignIn(notice = null) {
  signedIn = false;
  entering = false;
  session += 1;
  signInNotice = notice;
  leavePage();
  shared.boards = null;
  shared.boardsError = null;
  shared.tagNames.clear();
  document.body.classList.add('signed-out');
  replaceChildren(document.getElementById('nav-boards'));
  setRefreshStatus(null);
  currentPage = createSignInPage(app, {
    notice: notice ? t(notice) : null,
    onSignedIn: (key) => {
      storeKey(key);
      enter();
    },
  });
}

/** With a stored key: the shared lists, then the page the hash names. */
async function enter() {
  signedIn = true;
  entering = true;
  session += 1;
  const thisSession = session;
  signInNotice = null;
  leavePage();
  document.body.classList.remove('signed-out');
  replaceChildren(app, h('div', { class: 'state state-loading' }, t('common.loading')));
  await loadShared();
  // A 401 meanwhile has shown the sign-in view (or another sign-in began).
  if (!signedIn || thisSession !== session) return;
  entering = false;
  route({ rebuild: true });
}

function signOut() {
  forgetKey();
  showSignIn();
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
      if (signedIn) {
        route({ rebuild: true });
      } else {
        showSignIn(signInNotice);
      }
    });
  }
  document.querySelector('[data-action="sign-out"]').addEventListener('click', signOut);
  // Any request answered 401 (key unknown or revoked): forget it, sign in again.
  onUnauthorised(() => {
    if (!signedIn) return;
    forgetKey();
    showSignIn('auth.expired');
  });
  window.addEventListener('hashchange', () => {
    // A `#key=` link opened in this tab.
    if (adoptKeyFromFragment()) {
      enter();
      return;
    }
    route();
  });
  // Signing in or out in another tab of this origin applies here too.
  window.addEventListener('storage', (event) => {
    if (!isKeyStorageEvent(event)) return;
    if (storedKey() && !signedIn) enter();
    else if (!storedKey() && signedIn) showSignIn();
  });
  adoptKeyFromFragment();
  if (storedKey()) {
    enter();
  } else {
    showSignIn();
  }
}

start();
