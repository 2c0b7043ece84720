// Hash routing: `#/boards/<id>?filters`, `#/search?filters`, `#/followups?status=`.
// The whole page state lives in the hash, so any view is a shareable link and
// the back button works.

/** `#/boards/issues?days=7` → `{segments: ['boards', 'issues'], params: URLSearchParams}`. */
export function parseHash(hash = window.location.hash) {
  const withoutMark = hash.replace(/^#/, '');
  const questionMark = withoutMark.indexOf('?');
  const path = questionMark === -1 ? withoutMark : withoutMark.slice(0, questionMark);
  const query = questionMark === -1 ? '' : withoutMark.slice(questionMark + 1);
  const segments = path.split('/').filter(Boolean).map((segment) => {
    try {
      return decodeURIComponent(segment);
    } catch {
      return segment;
    }
  });
  return { segments, params: new URLSearchParams(query) };
}

/** Builds `#/path?query` skipping empty values. */
export function buildHash(path, params = {}) {
  const search = new URLSearchParams();
  const entries = params instanceof URLSearchParams ? params.entries() : Object.entries(params);
  for (const [key, value] of entries) {
    if (value === null || value === undefined || value === '') continue;
    search.append(key, String(value));
  }
  const query = search.toString();
  return `#${path}${query ? `?${query}` : ''}`;
}

export function navigate(path, params = {}) {
  const hash = buildHash(path, params);
  if (hash === window.location.hash) return false;
  window.location.hash = hash;
  return true;
}

/** Link to the search page with the given filters (board drill-downs). */
export function searchHref(filters) {
  return buildHash('/search', filters);
}
