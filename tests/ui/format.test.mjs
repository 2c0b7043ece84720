// The UI's pure helpers, without a browser: URL instants, the board's
// calendar in its own time zone, and filter state ↔ hash ↔ API parameters.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addDays, compactInstant, formatDate, formatPercent, formatRelativeChange, utcOffsetMinutes,
} from '../../dashboards/web/js/format.js';
import { boardFiltersToApi, boardFiltersToHash, learnBoardOffset, readBoardFilters } from '../../dashboards/web/js/filters.js';
import { queryString } from '../../dashboards/web/js/api.js';

test('a local midnight becomes its date in links; other instants stay as given', () => {
  assert.equal(compactInstant('2026-11-01T00:00:00+08:00'), '2026-11-01');
  assert.equal(compactInstant('2026-11-01T00:00:00Z'), '2026-11-01');
  assert.equal(compactInstant('2026-11-01T08:30:00+08:00'), '2026-11-01T08:30:00+08:00');
  assert.equal(compactInstant(undefined), undefined);
});

test('offsets and calendar arithmetic', () => {
  assert.equal(utcOffsetMinutes('2026-11-01T00:00:00+08:00'), 480);
  assert.equal(utcOffsetMinutes('2026-11-01T00:00:00-05:30'), -330);
  assert.equal(utcOffsetMinutes('2026-11-01T00:00:00Z'), 0);
  assert.equal(utcOffsetMinutes('nonsense'), null);
  assert.equal(addDays('2026-02-28', 1), '2026-03-01');
  assert.equal(addDays('2026-01-01', -1), '2025-12-31');
  assert.equal(formatDate('2026-11-01T12:00:00+08:00'), '2026-11-01');
  assert.equal(formatPercent(0.6894409937888198), '68.9%');
  assert.equal(formatRelativeChange(0.5333), '+53.3%');
  assert.equal(formatRelativeChange(null), null);
});

test('a preset period is the N board-local days up to today, `to` exclusive', () => {
  learnBoardOffset(480);
  const state = readBoardFilters(new URLSearchParams('days=7&source=review'));
  const params = boardFiltersToApi(state);
  const today = new Date(Date.now() + 480 * 60000).toISOString().slice(0, 10);
  assert.equal(params.to, addDays(today, 1));
  assert.equal(params.from, addDays(today, -6));
  assert.equal(params.source, 'review');
  assert.equal(params.interval, 'day');
  // The default 30 days stays out of the hash; custom dates win over a preset.
  assert.deepEqual(boardFiltersToHash(readBoardFilters(new URLSearchParams(''))).days, undefined);
  const custom = readBoardFilters(new URLSearchParams('days=7&from=2026-11-01&to=2026-11-08&interval=week'));
  assert.equal(custom.days, null);
  assert.deepEqual(boardFiltersToApi(custom), {
    interval: 'week', from: '2026-11-01', to: '2026-11-08', source: '', channel: '', sku: '', category: '',
  });
  assert.equal(queryString(boardFiltersToApi(custom)), '?interval=week&from=2026-11-01&to=2026-11-08');
});
