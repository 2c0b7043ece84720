// Top complaint keywords among negative items, as a weighted word list
// (sized by count). Each word drills into search for it among negatives.

import { h, replaceChildren } from '../dom.js';
import { t } from '../i18n.js';
import { formatCount } from '../format.js';
import { emptyState, rowsOf } from './common.js';

export function render(body, widget, data, context) {
  const rows = rowsOf(data).filter((row) => row.keyword && Number(row.count) > 0);
  if (rows.length === 0) {
    replaceChildren(body, emptyState(t('common.empty'), t('common.empty_hint')));
    return;
  }
  const counts = rows.map((row) => Number(row.count));
  const maximum = Math.max(...counts);
  const minimum = Math.min(...counts);
  const weight = (count) => (maximum === minimum ? 0.5 : (count - minimum) / (maximum - minimum));
  replaceChildren(body, h('div', { class: 'keyword-cloud' }, rows.map((row) => {
    const level = Math.round(weight(Number(row.count)) * 4);
    return h('a', {
      class: `keyword drill keyword-level-${level}`,
      href: context.drillHref({ q: row.keyword, sentiment: 'neg' }),
      title: t('keywords.count', { count: formatCount(row.count) }),
      dataset: { keyword: row.keyword, value: row.count },
    }, h('span', { class: 'keyword-text' }, row.keyword), h('span', { class: 'keyword-count' }, formatCount(row.count)));
  })));
}
