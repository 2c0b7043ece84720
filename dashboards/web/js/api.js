// The one place that talks to the service. Every request carries the API
// key (auth.js) as `Authorization: Bearer <key>`; a refused key (401) ends
// the session and brings the sign-in view. Every other failure becomes an
// ApiError carrying the service's own `{"error": {"code", "message",
// "field"}}` so pages can show that message instead of a blank chart.

import { t } from './i18n.js';
import { SignedOutError, signalUnauthorised, storedKey } from './auth.js';

export class ApiError extends Error {
  constructor(status, code, message, field = null, retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = field;
    /** Seconds to wait before trying again (429 `Retry-After`), when given. */
    this.retryAfter = retryAfter;
  }

  /** What a user reads: the service's message, with the parameter it names. */
  describe() {
    if (this.status === 429 && this.retryAfter !== null) return t('auth.rate_limited', { seconds: this.retryAfter });
    if (this.status === 403) return t('auth.forbidden', { message: this.message });
    const field = this.field ? ` (${this.field})` : '';
    return `${this.message}${field}`;
  }
}

/** `?a=1&b=2` from an object or URLSearchParams, skipping empty values. */
export function queryString(params) {
  const search = new URLSearchParams();
  const entries = params instanceof URLSearchParams ? params.entries() : Object.entries(params || {});
  for (const [key, value] of entries) {
    if (value === null || value === undefined || value === '') continue;
    search.append(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** `filename="x.csv"` of a Content-Disposition header, if any. */
function attachmentName(header) {
  const match = /filename="?([^";]+)"?/i.exec(header || '');
  return match ? match[1] : null;
}

/**
 * One API call. `key` validates a key that is not stored yet (the sign-in
 * view): its 401 comes back as an ApiError instead of ending the session.
 * `expect: 'file'` answers `{blob, filename}` (CSV export) instead of JSON.
 */
async function request(method, path, { params, body, signal, key, expect = 'json' } = {}) {
  const candidate = key !== undefined;
  const apiKey = candidate ? key : storedKey();
  if (!apiKey) {
    signalUnauthorised();
    throw new SignedOutError();
  }
  const headers = {
    Accept: expect === 'file' ? 'text/csv, application/json' : 'application/json',
    Authorization: `Bearer ${apiKey}`,
  };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(`${path}${queryString(params)}`, {
      method,
      signal,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      // The key is in a header, never in the URL; no cookies are involved.
      credentials: 'omit',
    });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, 'network', t('common.network_error'));
  }
  // A refused stored key ends the session, unless another key replaced it
  // while this request was in flight.
  if (response.status === 401 && !candidate) {
    if (storedKey() === apiKey) signalUnauthorised();
    throw new SignedOutError();
  }
  if (response.ok && expect === 'file') {
    return { blob: await response.blob(), filename: attachmentName(response.headers.get('Content-Disposition')) };
  }
  const text = await response.text();
  let payload = null;
  if (text) {
    try {
      payload = JSON.parse(text);
    } catch {
      payload = null;
    }
  }
  if (!response.ok) {
    const error = payload && payload.error ? payload.error : {};
    const retryAfter = Number.parseInt(response.headers.get('Retry-After'), 10);
    throw new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      error.message || `HTTP ${response.status} ${response.statusText}`.trim(),
      error.field || null,
      Number.isFinite(retryAfter) ? retryAfter : null,
    );
  }
  if (payload === null) {
    throw new ApiError(response.status, 'invalid_response', `${path}: not JSON`);
  }
  return payload;
}

export const api = {
  boards: (options) => request('GET', '/api/v1/boards', options),
  board: (id, params, options = {}) => request('GET', `/api/v1/boards/${encodeURIComponent(id)}`, { ...options, params }),
  search: (params, options = {}) => request('GET', '/api/v1/search', { ...options, params }),
  tags: (options) => request('GET', '/api/v1/tags', options),
  followups: (params, options = {}) => request('GET', '/api/v1/followups', { ...options, params }),
  followupStats: (params, options = {}) => request('GET', '/api/v1/followups/stats', { ...options, params }),
  updateFollowup: (id, changes) => request('PATCH', `/api/v1/followups/${encodeURIComponent(id)}`, { body: changes }),
  /** The CSV of a whole result set, fetched with the key (a plain link could not send it). */
  exportCsv: (filters, options = {}) => request('GET', '/api/v1/search/export', { ...options, params: exportParams(filters), expect: 'file' }),
  /** Whether `key` may read: the boards list, asked with that key alone. */
  checkKey: (key, options = {}) => request('GET', '/api/v1/boards', { ...options, key }),
};

/** The export's parameters: the search filters without paging. */
export function exportParams(filters) {
  const params = { ...filters, format: 'csv' };
  delete params.limit;
  delete params.offset;
  delete params.page;
  return params;
}
