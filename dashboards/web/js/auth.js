// The API key this browser uses to talk to the service, and the "signed
// out" signal. Every `/api/v1/*` request carries it as `Authorization:
// Bearer <key>` (api.js); a key never goes into a URL that leaves the
// browser.
//
// Where the key is kept: localStorage, under one name. It survives a reload
// and is shared by the tabs a person opens from drill-down links, and only
// pages of this origin can read it. What could read it is a script running
// in the page; the service's Content-Security-Policy allows only its own
// script files (no inline script, no eval, nothing from another origin) and
// API text only ever goes into text nodes (dom.js), which is what keeps it
// out of reach. A cookie would be sent by the browser on its own with every
// request, cross-site ones included, which the header-only API avoids.
//
// The first start of the service prints a link `/#key=xs_…`: the key is
// taken from the fragment (which browsers never send to a server), stored,
// and the fragment is removed from the address bar and the history entry.

const STORAGE_NAME = 'xinsheng.api_key';
const FRAGMENT_PATTERN = /^#key=([^&]+)$/;

let unauthorisedHandler = null;
// The key of this page too, for when localStorage refuses to store it
// (privacy modes): it then lasts as long as the page.
let sessionKey = null;

export function storedKey() {
  try {
    return globalThis.localStorage.getItem(STORAGE_NAME) || sessionKey;
  } catch {
    return sessionKey;
  }
}

export function storeKey(key) {
  try {
    globalThis.localStorage.setItem(STORAGE_NAME, key);
    sessionKey = null;
  } catch {
    sessionKey = key;
  }
}

export function forgetKey() {
  sessionKey = null;
  try {
    globalThis.localStorage.removeItem(STORAGE_NAME);
  } catch {
    // Nothing was stored.
  }
}

/** Whether a storage event (another tab signing in or out) concerns the key. */
export function isKeyStorageEvent(event) {
  return event.key === STORAGE_NAME || event.key === null;
}

/**
 * Takes a key from a `#key=xs_…` fragment: stores it and removes the
 * fragment from the address bar and from this history entry (replaceState,
 * so Back does not bring it back). Returns whether a key was taken.
 */
export function adoptKeyFromFragment(location = window.location, history = window.history) {
  const match = FRAGMENT_PATTERN.exec(location.hash);
  if (!match) return false;
  let key;
  try {
    key = decodeURIComponent(match[1]).trim();
  } catch {
    key = match[1].trim();
  }
  history.replaceState(history.state, '', `${location.pathname}${location.search}`);
  if (!key) return false;
  storeKey(key);
  return true;
}

/** main.js decides what a rejected key means (show the sign-in view). */
export function onUnauthorised(handler) {
  unauthorisedHandler = handler;
}

export function signalUnauthorised() {
  if (unauthorisedHandler) unauthorisedHandler();
}

/**
 * The rejection of a request whose answer nobody wants any more because the
 * session ended (no key, or the key was refused and the sign-in view
 * replaced the page). It is named like an aborted fetch so that pages treat
 * it the same way: they drop it silently instead of drawing an error state
 * over the sign-in view.
 */
export class SignedOutError extends Error {
  constructor() {
    super('signed out');
    this.name = 'AbortError';
    this.signedOut = true;
  }
}
