// The dictionary needs no browser: both languages must define the same
// labels, and every placeholder of a label must exist in its translation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dictionaryKeys, setLanguage, t } from '../../dashboards/web/js/i18n.js';

test('Chinese and English define the same labels with the same placeholders', () => {
  assert.deepEqual([...dictionaryKeys.en].sort(), [...dictionaryKeys.zh].sort());
  for (const key of dictionaryKeys.zh) {
    setLanguage('zh');
    const chinese = (t(key).match(/\{\w+\}/g) || []).sort();
    setLanguage('en');
    const english = (t(key).match(/\{\w+\}/g) || []).sort();
    assert.deepEqual(english, chinese, key);
  }
});
