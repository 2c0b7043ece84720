// State shared by pages: the board list (for the navigation) and tag names
// (for labels where a widget row carries only the tag id).

import { h, replaceChildren } from './dom.js';

export const shared = {
  boards: null,
  boardsError: null,
  tagNames: new Map(),
};

/** The small "updated 10:31:05" / "refresh failed" line in the top bar. */
export function setRefreshStatus(message, isError) {
  const element = document.getElementById('refresh-status');
  if (!element) return;
  element.classList.toggle('refresh-error', Boolean(isError));
  replaceChildren(element, message ? h('span', {}, message) : null);
}
