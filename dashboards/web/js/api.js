// The one place that talks to the service. Every failure becomes an
// ApiError carrying the service's own `{"error": {"code", "message",
// "field"}}` so pages can show that message instead of a blank chart.

import { t } from './i18n.js';

export class ApiError extends Error {
  constructor(status, code, message, field = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = field;
  }

  /** What a user reads: the service's message, with the parameter it names. */
  describe() {
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

async function request(method, path, { params, body, signal } = {}) {
  let response;
  try {
    response = await fetch(`${path}${queryString(params)}`, {
      method,
      signal,
      headers: body === undefined ? { Accept: 'application/json' } : { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, 'network', t('common.network_error'));
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
    throw new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      error.message || `HTTP ${response.status} ${response.statusText}`.trim(),
      error.field || null,
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
};

/** The CSV export URL of a set of search filters (a plain link: the browser downloads it). */
export function exportUrl(filters) {
  const params = { ...filters, format: 'csv' };
  delete params.limit;
  delete params.offset;
  delete params.page;
  return `/api/v1/search/export${queryString(params)}`;
}
