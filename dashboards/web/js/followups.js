// The follow-up queue item: severity, signals, the customer's words, tags,
// and the actions (status open → contacted → resolved, assignee, note), each
// saved with PATCH /api/v1/followups/{id}. Used by the board widget and the
// follow-up page alike.

import { h, replaceChildren } from './dom.js';
import { t, valueLabel, hasLabel } from './i18n.js';
import { api } from './api.js';
import { formatDateTime } from './format.js';
import { errorState } from './widgets/common.js';
import { toast } from './toast.js';
import { shared } from './shared.js';

export const STATUSES = ['open', 'contacted', 'resolved'];

/** The buttons offered from each status (the queue only ever moves forward, or reopens). */
const TRANSITIONS = {
  open: [['contacted', 'followup.mark_contacted'], ['resolved', 'followup.mark_resolved']],
  contacted: [['resolved', 'followup.mark_resolved'], ['open', 'followup.reopen']],
  resolved: [['open', 'followup.reopen']],
};

const SEVERITY_LABELS = ['low', 'medium', 'high', 'critical'];

/**
 * The severity band of an item: the API's `severity_label`, else its level
 * 1–4 (1 low … 4 critical). Colours and the badge text follow the band; the
 * 0–100 `score` behind it is shown small.
 */
export function severityLevel(item) {
  if (SEVERITY_LABELS.includes(item.severity_label)) return item.severity_label;
  const level = Math.round(Number(item.severity));
  return SEVERITY_LABELS[Math.min(4, Math.max(1, Number.isFinite(level) ? level : 1)) - 1];
}

function signalLabel(signal) {
  const key = `followup.signal.${signal.kind}`;
  return hasLabel(key) ? t(key) : String(signal.kind);
}

/** The signal's own sentence (Chinese, from the service) and its weight, for the tooltip. */
function signalTitle(signal) {
  const points = Number.isFinite(Number(signal.points)) && signal.points !== null ? t('followup.points', { points: signal.points }) : '';
  return [signal.detail, points].filter(Boolean).join(' · ');
}

function statusPill(status) {
  return h('span', { class: `status-pill status-${status}` }, hasLabel(`followup.${status}`) ? t(`followup.${status}`) : status);
}

/**
 * Renders one queue item into a card element (created or reused).
 * `onChanged(item, previousStatus)` runs after a successful update.
 */
export function renderQueueItem(item, { onChanged, compact = false, card = null } = {}) {
  const element = card || h('article', {});
  const level = severityLevel(item);
  element.className = `queue-item severity-${level}${compact ? ' queue-item-compact' : ''}`;
  element.dataset.id = item.id;
  element.dataset.status = item.status;
  const feedback = item.feedback || {};
  const assigneeInput = h('input', {
    type: 'text', class: 'input input-assignee', name: 'assignee', maxlength: 100,
    placeholder: t('followup.assignee_placeholder'), value: item.assignee || '', 'aria-label': t('followup.assignee'),
  });
  const noteInput = h('input', {
    type: 'text', class: 'input input-note', name: 'note', maxlength: 2000,
    placeholder: t('followup.note_placeholder'), value: item.note || '', 'aria-label': t('followup.note'),
  });
  const errorSlot = h('div', { class: 'queue-item-error' });

  async function update(changes, successMessage) {
    const buttons = element.querySelectorAll('button');
    buttons.forEach((button) => { button.disabled = true; });
    replaceChildren(errorSlot);
    try {
      const updated = await api.updateFollowup(item.id, changes);
      const previousStatus = item.status;
      renderQueueItem(updated, { onChanged, compact, card: element });
      toast(successMessage(updated));
      if (onChanged) onChanged(updated, previousStatus);
    } catch (error) {
      buttons.forEach((button) => { button.disabled = false; });
      replaceChildren(errorSlot, errorState(error));
    }
  }

  const statusButtons = (TRANSITIONS[item.status] || []).map(([status, label]) => h('button', {
    type: 'button',
    class: `button ${{ open: 'button-ghost', contacted: 'button-primary', resolved: 'button-success' }[status]} status-button`,
    dataset: { action: status },
    onClick: () => update({ status }, () => t('followup.status_changed', { status: t(`followup.${status}`) })),
  }, t(label)));

  const saveButton = h('button', {
    type: 'button', class: 'button button-ghost save-button', dataset: { action: 'save' },
    onClick: () => update({ assignee: assigneeInput.value.trim(), note: noteInput.value.trim() }, () => t('followup.saved')),
  }, t('followup.save'));
  const saveOnEnter = (event) => {
    if (event.key === 'Enter') saveButton.click();
  };
  assigneeInput.addEventListener('keydown', saveOnEnter);
  noteInput.addEventListener('keydown', saveOnEnter);

  const metadata = [
    feedback.source ? valueLabel('source', feedback.source) : null,
    feedback.channel,
    feedback.sku,
    feedback.product_name,
    feedback.rating ? t('search.rating', { rating: feedback.rating }) : null,
    feedback.consumer_id ? t('search.consumer', { id: feedback.consumer_id }) : null,
    formatDateTime(feedback.created_at),
  ].filter(Boolean);

  const times = [
    item.queued_at ? t('followup.queued_at', { time: formatDateTime(item.queued_at) }) : null,
    item.contacted_at ? t('followup.contacted_at', { time: formatDateTime(item.contacted_at) }) : null,
    item.resolved_at ? t('followup.resolved_at', { time: formatDateTime(item.resolved_at) }) : null,
  ].filter(Boolean);

  replaceChildren(element,
    h('div', { class: 'queue-item-side' },
      h('div', {
        class: `severity severity-${level}`,
        title: t('followup.severity'),
        dataset: { severity: item.severity ?? '', label: level },
      },
      h('span', { class: 'severity-value' }, t(`followup.severity.${level}`)),
      h('span', { class: 'severity-label' },
        item.score !== undefined && item.score !== null ? t('followup.score', { score: item.score }) : t('followup.severity')))),
    h('div', { class: 'queue-item-main' },
      h('div', { class: 'queue-item-head' },
        statusPill(item.status),
        (Array.isArray(item.signals) ? item.signals : []).map((signal) => h('span', {
          class: `chip chip-signal signal-${signal.kind}`, title: signalTitle(signal), dataset: { kind: signal.kind },
        }, signalLabel(signal))),
        h('span', { class: 'queue-item-times muted' }, times.join(' · '))),
      h('p', { class: 'queue-item-text' }, feedback.text || ''),
      h('div', { class: 'queue-item-tags' },
        (Array.isArray(feedback.tags) ? feedback.tags : []).map((tag) => h('span', {
          class: `chip chip-${tag.polarity === 'neg' ? 'negative' : tag.polarity === 'pos' ? 'positive' : 'neutral'}`,
          title: valueLabel('polarity', tag.polarity),
        }, tag.name || shared.tagNames.get(tag.tag) || tag.tag)),
        h('span', { class: 'queue-item-meta muted' }, metadata.join(' · '))),
      compact ? null : h('div', { class: 'queue-item-actions' },
        h('div', { class: 'status-buttons' }, statusButtons),
        h('label', { class: 'field-inline' }, h('span', {}, t('followup.assignee')), assigneeInput),
        h('label', { class: 'field-inline field-grow' }, h('span', {}, t('followup.note')), noteInput),
        saveButton),
      compact ? h('div', { class: 'queue-item-actions' }, h('div', { class: 'status-buttons' }, statusButtons)) : null,
      errorSlot));
  return element;
}
