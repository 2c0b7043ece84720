// The sign-in view, shown when this browser has no API key or the service
// refused the one it had. The key typed here is checked with one request
// (the board list, which needs the `read` scope the UI needs everywhere)
// and stored only when the service accepts it.

import { h, replaceChildren } from '../dom.js';
import { t } from '../i18n.js';
import { api } from '../api.js';

const CREATE_KEY_COMMAND = 'xinsheng keys create --for default --scopes read';

/** Why a candidate key was not accepted, in the person's language. */
function refusal(error) {
  if (error.status === 401) return t('auth.invalid_key');
  if (error.status === 403) return t('auth.no_read_scope');
  if (error.status === 429 && error.retryAfter !== null) return t('auth.rate_limited', { seconds: error.retryAfter });
  return error.describe ? error.describe() : String(error.message || error);
}

/**
 * `notice`: why the person sees this (e.g. the stored key was revoked), or
 * null. `onSignedIn(key)` runs with an accepted key.
 */
export function createSignInPage(root, { notice = null, onSignedIn }) {
  let controller = null;
  const input = h('input', {
    type: 'password',
    class: 'input input-key',
    id: 'api-key',
    name: 'api_key',
    placeholder: 'xs_…',
    autocomplete: 'off',
    spellcheck: 'false',
    autocapitalize: 'off',
    'aria-describedby': 'signin-hint',
  });
  const submit = h('button', { type: 'submit', class: 'button button-primary' }, t('auth.submit'));
  const error = h('div', { class: 'signin-error', role: 'alert' });
  const form = h('form', { class: 'signin-form' },
    h('label', { class: 'signin-label', for: 'api-key' }, t('auth.key_label')),
    h('div', { class: 'signin-row' }, input, submit),
    error);
  const section = h('section', { class: 'page page-signin', dataset: { state: 'ready' } },
    h('div', { class: 'signin-card' },
      h('div', { class: 'signin-mark', 'aria-hidden': 'true' }, '心'),
      h('h1', { class: 'page-title' }, t('auth.title')),
      h('p', { class: 'page-description' }, t('auth.description')),
      notice ? h('p', { class: 'signin-notice', role: 'status' }, notice) : null,
      form,
      h('div', { class: 'signin-hint muted', id: 'signin-hint' },
        h('p', {}, t('auth.hint')),
        h('code', {}, CREATE_KEY_COMMAND))));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) {
      replaceChildren(error, t('auth.empty_key'));
      section.dataset.state = 'error';
      input.focus();
      return;
    }
    if (controller) controller.abort();
    controller = new AbortController();
    submit.disabled = true;
    submit.textContent = t('auth.checking');
    replaceChildren(error);
    section.dataset.state = 'checking';
    try {
      await api.checkKey(key, { signal: controller.signal });
    } catch (failure) {
      if (failure.name === 'AbortError') return;
      replaceChildren(error, refusal(failure));
      section.dataset.state = 'error';
      submit.disabled = false;
      submit.textContent = t('auth.submit');
      input.select();
      return;
    }
    onSignedIn(key);
  });

  replaceChildren(root, section);
  input.focus();
  return {
    key: 'signin',
    update() {},
    destroy() {
      if (controller) controller.abort();
    },
  };
}
