// A short confirmation in the corner ("已保存"); it never carries errors,
// which stay next to what failed.

import { h } from './dom.js';

let container = null;

export function toast(message) {
  if (!container) {
    container = h('div', { class: 'toasts', 'aria-live': 'polite' });
    document.body.append(container);
  }
  const element = h('div', { class: 'toast' }, message);
  container.append(element);
  window.setTimeout(() => element.remove(), 2500);
}
