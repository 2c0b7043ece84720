// Number and time formatting. Times are shown as the API wrote them (the
// board's time zone, UTC+8 by default), not converted to the browser's zone,
// so a manager abroad sees the same calendar days as the board counts.

import { language, t } from './i18n.js';

function locale() {
  return language() === 'zh' ? 'zh-CN' : 'en-US';
}

export function formatCount(value) {
  if (value === null || value === undefined || !Number.isFinite(Number(value))) return '–';
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: 0 }).format(Number(value));
}

/** A 0..1 share as a percentage with one decimal: 0.1234 → "12.3%". */
export function formatPercent(share) {
  if (share === null || share === undefined || !Number.isFinite(Number(share))) return '–';
  return `${(Number(share) * 100).toFixed(1)}%`;
}

/** A relative change (0.25 → "+25.0%"); null when there is nothing to compare with. */
export function formatRelativeChange(change) {
  if (change === null || change === undefined || !Number.isFinite(Number(change))) return null;
  const percent = Number(change) * 100;
  return `${percent > 0 ? '+' : ''}${percent.toFixed(1)}%`;
}

/** A difference of two shares in percentage points (0.021 → "+2.1 个百分点"). */
export function formatPointChange(change) {
  if (change === null || change === undefined || !Number.isFinite(Number(change))) return null;
  const points = Number(change) * 100;
  return t('kpi.points', { value: `${points > 0 ? '+' : ''}${points.toFixed(1)}` });
}

/** A signed count difference: 3 → "+3". */
export function formatSignedCount(change) {
  if (change === null || change === undefined || !Number.isFinite(Number(change))) return null;
  const number = Number(change);
  return `${number > 0 ? '+' : ''}${formatCount(number)}`;
}

/** "2026-11-22T10:31:05+08:00" → "2026-11-22 10:31" (wall time as given). */
export function formatDateTime(rfc3339) {
  if (typeof rfc3339 !== 'string') return '';
  const match = rfc3339.match(/^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})/);
  return match ? `${match[1]} ${match[2]}` : rfc3339;
}

/** "2026-11-22T00:00:00+08:00" → "2026-11-22". */
export function formatDate(rfc3339) {
  if (typeof rfc3339 !== 'string') return '';
  const match = rfc3339.match(/^(\d{4}-\d{2}-\d{2})/);
  return match ? match[1] : rfc3339;
}

/** Short axis label for a bucket start: "11-22". */
export function formatBucket(rfc3339) {
  const date = formatDate(rfc3339);
  return date.length === 10 ? date.slice(5) : date;
}

export function formatMinutes(minutes) {
  if (minutes === null || minutes === undefined || !Number.isFinite(Number(minutes))) return '–';
  const value = Number(minutes);
  if (value >= 120) return t('followup.hours', { value: (value / 60).toFixed(1) });
  return t('followup.minutes', { value: Math.round(value) });
}

/**
 * An instant for a URL: a local midnight ("…T00:00:00+08:00") becomes its
 * date ("2026-11-22"), which the API reads in the board's zone, so shared
 * links stay short; anything else is kept as given.
 */
export function compactInstant(rfc3339) {
  if (typeof rfc3339 !== 'string') return rfc3339;
  const match = rfc3339.match(/^(\d{4}-\d{2}-\d{2})T00:00(:00(\.0+)?)?([+-]\d{2}:?\d{2}|Z)$/);
  return match ? match[1] : rfc3339;
}

/** Minutes east of UTC of an RFC 3339 string ("+08:00" → 480), or null. */
export function utcOffsetMinutes(rfc3339) {
  if (typeof rfc3339 !== 'string') return null;
  if (/Z$/i.test(rfc3339)) return 0;
  const match = rfc3339.match(/([+-])(\d{2}):?(\d{2})$/);
  if (!match) return null;
  const minutes = Number(match[2]) * 60 + Number(match[3]);
  return match[1] === '-' ? -minutes : minutes;
}

/** Adds whole days to a "YYYY-MM-DD" date. */
export function addDays(date, days) {
  const [year, month, day] = date.split('-').map(Number);
  const shifted = new Date(Date.UTC(year, month - 1, day + days));
  return shifted.toISOString().slice(0, 10);
}

/** Today's date in a zone `offsetMinutes` east of UTC. */
export function todayIn(offsetMinutes) {
  return new Date(Date.now() + offsetMinutes * 60000).toISOString().slice(0, 10);
}
