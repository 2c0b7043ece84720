// End-to-end tests of the web UI: the real service (release binary, demo
// data, loopback) and a real headless chromium. One service and one browser
// for the whole file, signed in once with the test key; each test opens its
// own page. The sign-in tests use browsers of their own, which start with no
// key. Screenshots of every board, the search page, the follow-up page and
// the sign-in view are written to docs/screenshots/ at 1440×900 (the README
// shows them).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  TEST_API_KEY, apiFetch, createKey, expectedCountText, expectedPercentText, getJson, hashParams,
  openPage, screenshot, signIn, startBrowser, startService, waitForState,
} from './harness.mjs';

let service;
let browser;

before(async () => {
  service = await startService();
  browser = await startBrowser();
  await signIn(browser.context, service.baseUrl);
});

after(async () => {
  if (browser) await browser.close();
  if (service) await service.stop();
});

const url = (hash) => `${service.baseUrl}/${hash}`;

async function openBoard(page, boardId, query = '') {
  await page.goto(url(`#/boards/${boardId}${query}`));
  return waitForState(page, `.page-board[data-board="${boardId}"]`, ['ready', 'error']);
}

async function openSearch(page, query = '') {
  await page.goto(url(`#/search${query}`));
  return waitForState(page, '.page-search', ['ready', 'error']);
}

/** Reads the tiles the page shows: key, library, raw value and displayed text. */
function readTiles(page) {
  return page.$$eval('.widget-kpi_tiles .kpi-tile', (tiles) => tiles.map((tile) => ({
    key: tile.dataset.key,
    library: tile.dataset.library || null,
    value: Number(tile.dataset.value),
    text: tile.querySelector('.tile-value').textContent.trim(),
  })));
}

function assertTilesMatch(shown, apiTiles) {
  assert.equal(shown.length, apiTiles.length, 'one tile per API tile');
  for (const [index, tile] of apiTiles.entries()) {
    const seen = shown[index];
    assert.equal(seen.key, tile.key);
    assert.equal(seen.library, tile.library ?? null);
    assert.ok(Math.abs(seen.value - tile.value) < 1e-9, `${tile.key}/${tile.library}: page ${seen.value}, API ${tile.value}`);
    const expected = tile.key === 'volume' ? expectedCountText(tile.value) : expectedPercentText(tile.value);
    assert.equal(seen.text, expected, `${tile.key}/${tile.library} text`);
  }
}

/** RFC 4180 records (quoted cells may hold commas, quotes and newlines). */
function parseCsv(text) {
  const records = [];
  let record = [];
  let cell = '';
  let quoted = false;
  for (let index = 0; index < text.length; index += 1) {
    const character = text[index];
    if (quoted) {
      if (character === '"' && text[index + 1] === '"') {
        cell += '"';
        index += 1;
      } else if (character === '"') {
        quoted = false;
      } else {
        cell += character;
      }
    } else if (character === '"') {
      quoted = true;
    } else if (character === ',') {
      record.push(cell);
      cell = '';
    } else if (character === '\n' || character === '\r') {
      if (character === '\r' && text[index + 1] === '\n') index += 1;
      record.push(cell);
      records.push(record);
      record = [];
      cell = '';
    } else {
      cell += character;
    }
  }
  if (cell !== '' || record.length > 0) {
    record.push(cell);
    records.push(record);
  }
  return records;
}

function kpiWidgetId(board) {
  const widget = board.board.widgets.find((candidate) => candidate.type === 'kpi_tiles');
  return widget ? widget.id : null;
}

describe('boards', () => {
  test('every board loads with no console errors or failed requests, and is screenshotted', async () => {
    const { boards } = await getJson(service.baseUrl, '/api/v1/boards');
    assert.ok(boards.length >= 5, `expected the shipped boards, got ${boards.map((board) => board.id)}`);
    for (const summary of boards) {
      const { page, problems } = await openPage(browser.context);
      const state = await openBoard(page, summary.id);
      assert.equal(state, 'ready', `board ${summary.id} did not load: ${await page.textContent('.board-grid')}`);
      await page.waitForLoadState('networkidle');
      const definition = await getJson(service.baseUrl, `/api/v1/boards/${summary.id}`);
      const widgetIds = await page.$$eval('.board-grid > .widget', (widgets) => widgets.map((widget) => widget.dataset.widget));
      assert.deepEqual(widgetIds, definition.board.widgets.map((widget) => widget.id), `${summary.id}: layout follows the definition`);
      // Every widget shows something: a chart, a table/list, tiles, or a readable state.
      const blank = await page.$$eval('.board-grid > .widget', (widgets) => widgets
        .filter((widget) => {
          const body = widget.querySelector('.widget-body');
          return !body.querySelector('canvas, table, ol, ul, .kpi-tiles, .keyword-cloud, .queue-list, .state');
        })
        .map((widget) => widget.dataset.widget));
      assert.deepEqual(blank, [], `${summary.id}: widgets with nothing drawn`);
      const errors = await page.$$eval('.board-grid .state-error', (elements) => elements.map((element) => element.textContent));
      assert.deepEqual(errors, [], `${summary.id}: widgets showing errors`);
      assert.equal(await page.$eval('.page-title', (element) => element.textContent), summary.title.zh);
      await screenshot(page, `board-${summary.id}`);
      assert.deepEqual(problems, [], `${summary.id}: console errors or failed requests`);
      await page.close();
    }
  });

  test('KPI tiles show the API numbers, for the default period and a custom one with filters', async () => {
    const { page, problems } = await openPage(browser.context);
    // The default view (30 local days up to today) must be the API's own default.
    assert.equal(await openBoard(page, 'issues'), 'ready');
    const defaultAnswer = await getJson(service.baseUrl, '/api/v1/boards/issues');
    const widgetId = kpiWidgetId(defaultAnswer);
    assert.ok(widgetId, 'the issue board has KPI tiles');
    const apiTiles = defaultAnswer.widgets[widgetId].tiles;
    assert.ok(apiTiles.find((tile) => tile.key === 'volume').value > 0, 'demo data is in the default period');
    assertTilesMatch(await readTiles(page), apiTiles);

    // A custom period and a source filter, given in the shareable hash.
    const to = defaultAnswer.period.to.slice(0, 10);
    const from = defaultAnswer.period.previous_from.slice(0, 10);
    const query = `?from=${from}&to=${to}&source=review&interval=week`;
    assert.equal(await openBoard(page, 'issues', query), 'ready');
    const filtered = await getJson(service.baseUrl, `/api/v1/boards/issues${query}`);
    assertTilesMatch(await readTiles(page), filtered.widgets[widgetId].tiles);
    assert.equal(await page.$eval('select[name="source"]', (element) => element.value), 'review');
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('a filter change reloads the numbers in place, without a page reload', async () => {
    const { page, problems } = await openPage(browser.context);
    assert.equal(await openBoard(page, 'issues'), 'ready');
    await page.evaluate(() => { window.__noReload = true; });
    const loadsBefore = Number(await page.$eval('.page-board', (element) => element.dataset.loads));
    await page.click('.filter-bar button[data-days="7"]');
    await page.waitForFunction((before) => {
      const element = document.querySelector('.page-board');
      return Number(element.dataset.loads) > before && element.dataset.state === 'ready';
    }, loadsBefore);
    assert.equal(await page.evaluate(() => window.__noReload), true, 'the page was not reloaded');
    assert.equal(hashParams(page.url()).days, '7');
    const answer = await getJson(service.baseUrl, '/api/v1/boards/issues');
    const to = answer.period.to.slice(0, 10);
    const from = new Date(Date.parse(`${to}T00:00:00Z`) - 7 * 86_400_000).toISOString().slice(0, 10);
    const sevenDays = await getJson(service.baseUrl, `/api/v1/boards/issues?from=${from}&to=${to}`);
    assertTilesMatch(await readTiles(page), sevenDays.widgets[kpiWidgetId(answer)].tiles);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('a tag in the ranking drills into search with tag= and the board filters; the count is the API\'s', async () => {
    const { page, problems } = await openPage(browser.context);
    assert.equal(await openBoard(page, 'issues', '?source=review'), 'ready');
    const link = await page.waitForSelector('.widget-tag_ranking a.tag-link');
    const tag = await link.getAttribute('data-tag');
    const negativeMentions = Number(await page.$eval(`.widget-tag_ranking tr[data-tag="${tag}"] a.number`, (element) => element.dataset.value));
    await link.click();
    assert.equal(await waitForState(page, '.page-search', ['ready', 'error']), 'ready');
    const params = hashParams(page.url());
    assert.equal(params.tag, tag);
    assert.equal(params.polarity, 'neg');
    assert.equal(params.source, 'review', 'board filters travel with the drill-down');
    assert.ok(params.from && params.to, 'the board period travels with the drill-down');
    const shownTotal = Number(await page.$eval('.search-total', (element) => element.dataset.total));
    const query = new URLSearchParams({ ...params, limit: '0' });
    const api = await getJson(service.baseUrl, `/api/v1/search?${query}`);
    assert.equal(shownTotal, api.total);
    assert.equal(shownTotal, negativeMentions, 'search finds as many items as the ranking counted');
    const chips = await page.$$eval('.chip-filter', (elements) => elements.map((element) => element.dataset.filter));
    assert.ok(chips.includes('tag') && chips.includes('polarity'), `active filter chips: ${chips}`);
    assert.deepEqual(problems, []);
    await page.close();
  });
  test('a heat-map cell drills into search with its SKU, tag and the board library; same count', async () => {
    const { page, problems } = await openPage(browser.context);
    assert.equal(await openBoard(page, 'product'), 'ready');
    const answer = await getJson(service.baseUrl, '/api/v1/boards/product');
    const widget = answer.board.widgets.find((candidate) => candidate.type === 'heatmap' && candidate.dimension === 'sku');
    const data = answer.widgets[widget.id];
    const [rowIndex, columnIndex, negative] = data.cells.reduce((best, cell) => (cell[2] > best[2] ? cell : best));
    // ECharts draws to canvas: find the cell's pixel from the chart itself, then click like a person.
    const chartSelector = `.widget[data-widget="${widget.id}"] .chart`;
    await page.waitForSelector(`${chartSelector} canvas`);
    const point = await page.$eval(chartSelector, (element, [column, rowFromTop, rowCount]) => {
      const chart = window.echarts.getInstanceByDom(element);
      const [x, y] = chart.convertToPixel({ seriesIndex: 0 }, [column, rowCount - 1 - rowFromTop]);
      const box = element.getBoundingClientRect();
      return { x: box.left + x, y: box.top + y };
    }, [columnIndex, rowIndex, data.rows.length]);
    await page.mouse.click(point.x, point.y);
    assert.equal(await waitForState(page, '.page-search', ['ready', 'error']), 'ready');
    const params = hashParams(page.url());
    assert.equal(params.sku, data.rows[rowIndex]);
    assert.equal(params.tag, data.columns[columnIndex].tag);
    assert.equal(params.polarity, 'neg');
    assert.equal(params.library, 'product');
    assert.equal(Number(await page.$eval('.search-total', (element) => element.dataset.total)), negative);
    assert.deepEqual(problems, []);
    await page.close();
  });
});

describe('search', () => {
  test('a facet click narrows the results, a second click removes it; screenshot', async () => {
    const { page, problems } = await openPage(browser.context);
    assert.equal(await openSearch(page, '?q=%E7%89%A9%E6%B5%81'), 'ready');
    await screenshot(page, 'search');
    const before = Number(await page.$eval('.search-total', (element) => element.dataset.total));
    const facet = await page.$('.facet[data-facet="source"] .facet-value');
    const value = await facet.getAttribute('data-value');
    const count = Number(await facet.getAttribute('data-count'));
    assert.ok(count < before, 'the facet value is a strict subset');
    await facet.click();
    await page.waitForFunction((expected) => document.querySelector('.page-search').dataset.state === 'ready'
      && Number(document.querySelector('.search-total')?.dataset.total) === expected, count);
    assert.equal(hashParams(page.url()).source, value);
    const sources = await page.$$eval('.hit .source-badge', (badges) => badges.map((badge) => badge.className));
    assert.ok(sources.length > 0 && sources.every((name) => name.includes(`source-${value}`)), 'every hit has that source');
    await page.click(`.facet[data-facet="source"] .facet-value[data-value="${value}"]`);
    await page.waitForFunction((expected) => document.querySelector('.page-search').dataset.state === 'ready'
      && Number(document.querySelector('.search-total')?.dataset.total) === expected, before);
    assert.equal(hashParams(page.url()).source, undefined);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('query matches are marked and tag evidence is underlined at the right characters', async () => {
    const { page, problems } = await openPage(browser.context);
    assert.equal(await openSearch(page, '?q=%E8%B5%B7%E7%90%83'), 'ready');
    const marks = await page.$$eval('.hit-text mark', (elements) => elements.map((element) => element.textContent));
    assert.ok(marks.length > 0, 'matches are marked');
    assert.ok(marks.every((text) => text.length > 0 && '起球'.includes(text) || text.includes('起球')), `marked: ${marks}`);
    // Each underlined span must read exactly the evidence text the API gives
    // (offsets are code points; a wrong conversion shifts the underline).
    const api = await getJson(service.baseUrl, `/api/v1/search?q=${encodeURIComponent('起球')}`);
    const shown = await page.$$eval('.hit', (hits) => hits.map((hit) => ({
      id: hit.dataset.id,
      evidence: [...hit.querySelectorAll('.evidence')].map((span) => ({ tags: span.dataset.tags, text: span.textContent })),
    })));
    let checked = 0;
    for (const hit of api.hits) {
      const page_hit = shown.find((candidate) => candidate.id === String(hit.id));
      for (const tag of hit.tags.filter((candidate) => candidate.evidence && candidate.evidence.span && !candidate.evidence.field)) {
        const [start, end] = tag.evidence.span;
        const expected = Array.from(hit.text).slice(start, end).join('');
        const underlined = page_hit.evidence.filter((span) => span.tags.split(' ').includes(tag.tag)).map((span) => span.text).join('');
        assert.equal(underlined, expected, `hit ${hit.id} tag ${tag.tag}`);
        checked += 1;
      }
    }
    assert.ok(checked > 0, 'some evidence was checked');
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('offsets count code points: an emoji before a match does not shift it', async () => {
    const { page } = await openPage(browser.context);
    await page.goto(url('#/search?q=x'));
    const pieces = await page.evaluate(async () => {
      const { decorateText } = await import('/static/js/dom.js');
      const wrapper = document.createElement('p');
      wrapper.append(...decorateText('😀😀起球了，👍物流快', [
        { ranges: [[2, 4]], wrap: (children) => { const span = document.createElement('u'); span.append(...children); return span; } },
        { ranges: [[3, 4], [7, 9]], wrap: (children) => { const mark = document.createElement('mark'); mark.append(...children); return mark; } },
      ]));
      return { html: wrapper.innerHTML, underlined: [...wrapper.querySelectorAll('u')].map((element) => element.textContent), marked: [...wrapper.querySelectorAll('mark')].map((element) => element.textContent) };
    });
    assert.deepEqual(pieces.underlined, ['起', '球'], pieces.html);
    assert.deepEqual(pieces.marked, ['球', '物流'], pieces.html);
    await page.close();
  });

  test('the CSV export downloads the current result set, fetched with the key header', async () => {
    const { page, problems } = await openPage(browser.context);
    assert.equal(await openSearch(page, '?tag=logistics.speed&polarity=neg'), 'ready');
    const total = Number(await page.$eval('.search-total', (element) => element.dataset.total));
    assert.ok(total > 0);
    const exportRequest = page.waitForRequest((request) => new URL(request.url()).pathname === '/api/v1/search/export');
    const downloadEvent = page.waitForEvent('download');
    await page.click('.export-link');
    const request = await exportRequest;
    const query = new URL(request.url()).searchParams;
    assert.equal(query.get('tag'), 'logistics.speed');
    assert.equal(query.get('polarity'), 'neg');
    assert.equal(query.get('format'), 'csv');
    assert.equal(query.get('limit'), null, 'the whole result set, not one page');
    assert.equal((await request.allHeaders()).authorization, `Bearer ${TEST_API_KEY}`);
    const response = await request.response();
    assert.equal(response.status(), 200);
    assert.match(response.headers()['content-type'], /^text\/csv/);
    assert.match(response.headers()['content-disposition'] || '', /attachment/);
    const download = await downloadEvent;
    assert.match(download.suggestedFilename(), /\.csv$/);
    const bytes = new Uint8Array(fs.readFileSync(await download.path()));
    assert.deepEqual([...bytes.slice(0, 3)], [0xef, 0xbb, 0xbf], 'UTF-8 BOM for Excel');
    const records = parseCsv(new TextDecoder().decode(bytes.slice(3)));
    const header = records[0];
    assert.ok(header.includes('id') && header.includes('text') && header.includes('tags'), `header: ${header}`);
    const rows = records.slice(1);
    assert.equal(rows.length, total, 'one row per hit');
    const tagsColumn = header.indexOf('tags');
    assert.ok(rows.every((row) => row[tagsColumn].includes('logistics.speed:neg')), 'every row has the filtered tag');
    assert.equal(await page.$eval('.export-link', (element) => element.dataset.state), 'done');
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('no hits shows a readable empty state', async () => {
    const { page, problems } = await openPage(browser.context);
    assert.equal(await openSearch(page, `?q=${encodeURIComponent('完全不存在的词语组合乙丙丁')}`), 'ready');
    assert.equal(await page.$eval('.results .state-empty .state-title', (element) => element.textContent), '没有找到匹配的反馈');
    assert.equal(await page.$eval('.search-total', (element) => element.dataset.total), '0');
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('an API error shows the service\'s message, not a blank page', async () => {
    const { page } = await openPage(browser.context);
    assert.equal(await openSearch(page, '?from=not-a-date'), 'error');
    const response = await apiFetch(service.baseUrl, '/api/v1/search?from=not-a-date&limit=20&offset=0');
    assert.equal(response.status, 400);
    const { error } = await response.json();
    const shown = await page.$eval('.results .state-error .error-message', (element) => element.textContent);
    assert.ok(shown.includes(error.message), `shown "${shown}", API said "${error.message}"`);

    assert.equal(await openBoard(page, 'no-such-board'), 'error');
    const boardError = await (await apiFetch(service.baseUrl, '/api/v1/boards/no-such-board')).json();
    const boardShown = await page.$eval('.board-grid .state-error .error-message', (element) => element.textContent);
    assert.ok(boardShown.includes(boardError.error.message), `shown "${boardShown}"`);
    await page.close();
  });
});

describe('empty board', () => {
  test('a filter with no data shows "暂无数据" instead of blank charts', async () => {
    const { page, problems } = await openPage(browser.context);
    assert.equal(await openBoard(page, 'issues', '?channel=no-such-channel'), 'ready');
    const volume = await page.$eval('.kpi-tile[data-key="volume"]', (element) => element.dataset.value);
    assert.equal(volume, '0');
    const chartWidgets = await page.$$eval('.board-grid > .widget[data-type="trend"], .board-grid > .widget[data-type="tag_ranking"], .board-grid > .widget[data-type="split"]',
      (widgets) => widgets.map((widget) => ({
        id: widget.dataset.widget,
        canvas: Boolean(widget.querySelector('canvas')),
        message: widget.querySelector('.state-empty .state-title')?.textContent || null,
      })));
    assert.ok(chartWidgets.length > 0);
    for (const widget of chartWidgets) {
      assert.equal(widget.canvas, false, `${widget.id} draws no empty chart`);
      assert.ok(widget.message, `${widget.id} says why it is empty`);
    }
    assert.ok(chartWidgets.some((widget) => widget.message === '暂无数据'));
    assert.deepEqual(problems, []);
    await page.close();
  });
});

describe('follow-up queue', () => {
  test('a status change, assignee and note survive a reload; screenshot', async () => {
    const { page, problems } = await openPage(browser.context);
    await page.goto(url('#/followups?status=open'));
    const state = await waitForState(page, '.page-followups', ['ready', 'error']);
    assert.equal(state, 'ready', `the follow-up page did not load: ${await page.textContent('.page-followups .queue-list')}`);
    await page.waitForSelector('.followup-stats .kpi-tiles');
    await screenshot(page, 'followups');
    const card = await page.waitForSelector('.queue-item[data-status="open"]');
    const id = await card.getAttribute('data-id');
    const openBefore = Number(await page.$eval('.kpi-followup-open', (element) => element.dataset.value));
    const selector = `.queue-item[data-id="${id}"]`;
    await page.fill(`${selector} input[name="assignee"]`, '小王');
    await page.fill(`${selector} input[name="note"]`, '已电话致歉，补发');
    await page.click(`${selector} button[data-action="save"]`);
    await page.waitForFunction((sel) => document.querySelector(sel)?.querySelector('input[name="assignee"]').value === '小王'
      && !document.querySelector(sel).querySelector('button[data-action="save"]').disabled, selector);
    await page.click(`${selector} button[data-action="contacted"]`);
    await page.waitForSelector(`${selector}[data-status="contacted"]`);
    await page.waitForFunction((expected) => Number(document.querySelector('.kpi-followup-open')?.dataset.value) === expected, openBefore - 1);

    // Let the hash navigation's requests finish before reloading, so the
    // reload aborts nothing (an aborted request counts as a failure here).
    await page.goto(url('#/followups?status=contacted'));
    assert.equal(await waitForState(page, '.page-followups', ['ready', 'error']), 'ready');
    await page.waitForLoadState('networkidle');
    await page.reload();
    assert.equal(await waitForState(page, '.page-followups', ['ready', 'error']), 'ready');
    const persisted = await page.waitForSelector(selector);
    assert.equal(await persisted.getAttribute('data-status'), 'contacted');
    assert.equal(await page.$eval(`${selector} input[name="assignee"]`, (element) => element.value), '小王');
    assert.equal(await page.$eval(`${selector} input[name="note"]`, (element) => element.value), '已电话致歉，补发');
    const api = await getJson(service.baseUrl, '/api/v1/followups?status=contacted&limit=100');
    const item = api.items.find((candidate) => String(candidate.id) === id);
    assert.ok(item, 'the API lists it as contacted');
    assert.ok(item.contacted_at, 'contact time recorded');
    // And back: resolve it.
    await page.click(`${selector} button[data-action="resolved"]`);
    await page.waitForSelector(`${selector}[data-status="resolved"]`);
    assert.deepEqual(problems, []);
    await page.close();
  });
});

describe('language', () => {
  test('Chinese by default; the English switch is kept across a reload', async () => {
    const { page, problems } = await openPage(browser.context);
    assert.equal(await openSearch(page), 'ready');
    assert.equal(await page.$eval('html', (element) => element.lang), 'zh-CN');
    assert.equal(await page.$eval('a[data-route="search"]', (element) => element.textContent.trim()), '⌕评价搜索');
    await page.click('.lang-switch button[data-lang="en"]');
    await waitForState(page, '.page-search', ['ready']);
    assert.equal(await page.$eval('.page-title', (element) => element.textContent), 'Search');
    await page.reload();
    assert.equal(await waitForState(page, '.page-search', ['ready']), 'ready');
    assert.equal(await page.$eval('html', (element) => element.lang), 'en');
    assert.equal(await page.$eval('.page-title', (element) => element.textContent), 'Search');
    await page.click('.lang-switch button[data-lang="zh"]');
    await waitForState(page, '.page-search', ['ready']);
    assert.equal(await page.$eval('.page-title', (element) => element.textContent), '评价搜索');
    assert.deepEqual(problems, []);
    await page.close();
  });
});

describe('signing in', () => {
  const KEY_STORAGE = 'xinsheng.api_key';

  /** A browser with no key yet, recording every request its pages send. */
  async function freshBrowser() {
    const fresh = await startBrowser();
    const requests = [];
    fresh.context.on('request', (request) => requests.push(request));
    return { ...fresh, requests };
  }

  const apiRequests = (requests) => requests.filter((request) => new URL(request.url()).pathname.startsWith('/api/'));
  const storedKey = (page) => page.evaluate((name) => localStorage.getItem(name), KEY_STORAGE);
  const signedOut = (page) => page.$eval('body', (element) => element.classList.contains('signed-out'));

  /**
   * Problems other than the refusals a test provokes: HTTP `status` answers
   * and Chromium's console line for each; with `abortedApi`, also the API
   * requests of a page that a refusal replaced by the sign-in view (leaving
   * a page aborts its requests).
   */
  function unexpectedProblems(problems, status, { abortedApi = false } = {}) {
    return problems.filter((problem) => !problem.startsWith(`HTTP ${status}:`)
      && !(problem.startsWith('console error:') && problem.includes(`status of ${status}`))
      && !(abortedApi && /^request failed: GET \S+\/api\/v1\/\S+ net::ERR_ABORTED$/.test(problem)));
  }

  async function submitKey(page, key) {
    await page.fill('.page-signin input[name="api_key"]', key);
    await page.click('.signin-form button[type="submit"]');
  }

  test('without a key the sign-in view shows; a wrong key is refused, the right one opens the linked board; screenshot', async () => {
    const fresh = await freshBrowser();
    try {
      const { page, problems } = await openPage(fresh.context);
      await page.goto(url('#/boards/issues?days=7'));
      assert.equal(await waitForState(page, '.page-signin'), 'ready');
      assert.equal(await signedOut(page), true);
      assert.equal(await page.isVisible('#sidebar'), false, 'no navigation while signed out');
      assert.equal(await page.isVisible('[data-action="sign-out"]'), false);
      assert.equal(await page.getAttribute('.page-signin input[name="api_key"]', 'type'), 'password');
      assert.ok((await page.textContent('.signin-hint')).includes('xinsheng keys create --for default --scopes read'));
      assert.deepEqual(apiRequests(fresh.requests).map((request) => request.url()), [], 'nothing is asked without a key');
      await screenshot(page, 'signin');

      await page.click('.lang-switch button[data-lang="en"]');
      assert.equal(await page.textContent('.page-signin .page-title'), 'Sign in');
      await page.click('.lang-switch button[data-lang="zh"]');
      assert.equal(await page.textContent('.page-signin .page-title'), '登录');

      await submitKey(page, 'xs_wrongwrongwrongwrongwrongwrongwrong');
      assert.equal(await waitForState(page, '.page-signin', ['error']), 'error');
      assert.equal(await page.textContent('.signin-error'), '密钥无效或已被吊销，请检查后重试。');
      assert.equal(await storedKey(page), null, 'a refused key is not kept');

      await submitKey(page, TEST_API_KEY);
      assert.equal(await waitForState(page, '.page-board[data-board="issues"]', ['ready', 'error']), 'ready');
      assert.equal(hashParams(page.url()).days, '7', 'the link opened before signing in is kept');
      assert.equal(await storedKey(page), TEST_API_KEY);
      assert.equal(await signedOut(page), false);
      assert.ok(await page.$$eval('#nav-boards a', (links) => links.length) >= 5, 'the board list is in the navigation');
      assert.equal(await page.isVisible('[data-action="sign-out"]'), true);
      await page.waitForLoadState('networkidle');
      assert.deepEqual(unexpectedProblems(problems, 401), []);
      assert.equal(problems.filter((problem) => problem.startsWith('HTTP 401:')).length, 1, `only the wrong key was refused: ${problems}`);
      await page.close();
    } finally {
      await fresh.close();
    }
  });

  test('opening /#key=… signs in, and the key leaves the address bar and the history', async () => {
    const fresh = await freshBrowser();
    try {
      const { page, problems } = await openPage(fresh.context);
      await page.goto(url(`#key=${TEST_API_KEY}`));
      assert.equal(await waitForState(page, '.page-board', ['ready', 'error']), 'ready');
      const shown = await page.evaluate(() => ({ href: window.location.href, hash: window.location.hash }));
      assert.ok(!shown.href.includes(TEST_API_KEY) && !shown.href.includes('key='), shown.href);
      assert.match(shown.hash, /^#\/boards\//, 'the default route');
      assert.equal(await storedKey(page), TEST_API_KEY);
      await page.waitForLoadState('networkidle');

      // A `#key=` link followed inside an open tab (a hash change, no reload) switches keys the same way.
      const other = await createKey(service.baseUrl, { name: 'ui test: second reader', scopes: ['read'] });
      await page.evaluate((key) => { window.location.hash = `#key=${key}`; }, other.key);
      await page.waitForFunction((name) => localStorage.getItem(name) !== null && !window.location.hash.includes('key='), KEY_STORAGE);
      assert.equal(await storedKey(page), other.key);
      assert.equal(await waitForState(page, '.page-board', ['ready', 'error']), 'ready');
      assert.ok(!page.url().includes(other.key));
      await page.waitForLoadState('networkidle');

      // The `#key=` entries were replaced, not pushed: Back never shows a key.
      await page.goBack();
      assert.ok(!page.url().includes(other.key) && !page.url().includes(TEST_API_KEY), page.url());
      assert.deepEqual(problems, []);
      await page.close();
    } finally {
      await fresh.close();
    }
  });

  test('sign out forgets the key and returns to the sign-in view; nothing is asked afterwards', async () => {
    const fresh = await freshBrowser();
    try {
      await signIn(fresh.context, service.baseUrl);
      const { page, problems } = await openPage(fresh.context);
      assert.equal(await openBoard(page, 'issues'), 'ready');
      await page.waitForLoadState('networkidle');
      await page.click('[data-action="sign-out"]');
      assert.equal(await waitForState(page, '.page-signin'), 'ready');
      const requestsAtSignOut = apiRequests(fresh.requests).length;
      assert.equal(await storedKey(page), null);
      assert.equal(await signedOut(page), true);
      assert.equal(await page.$$eval('#nav-boards a', (links) => links.length), 0, 'the tenant\'s board list is gone');
      assert.equal(await page.textContent('.refresh-status'), '');
      // Other routes, and a reload, stay on the sign-in view.
      await page.evaluate(() => { window.location.hash = '#/search?q=x'; });
      await page.waitForFunction(() => window.location.hash === '#/search?q=x');
      assert.ok(await page.$('.page-signin'));
      assert.equal(await page.$('.page-search'), null);
      await page.reload();
      assert.equal(await waitForState(page, '.page-signin'), 'ready');
      await page.waitForTimeout(500);
      assert.equal(apiRequests(fresh.requests).length, requestsAtSignOut, 'no API request after signing out');
      assert.deepEqual(problems, []);
      await page.close();
    } finally {
      await fresh.close();
    }
  });

  test('no request carries the key in its URL; every API request carries it in the Authorization header', async () => {
    const fresh = await freshBrowser();
    try {
      const { page, problems } = await openPage(fresh.context);
      await page.goto(url(`#key=${TEST_API_KEY}`));
      assert.equal(await waitForState(page, '.page-board', ['ready', 'error']), 'ready');
      assert.equal(await openSearch(page, '?q=%E7%89%A9%E6%B5%81'), 'ready');
      const download = page.waitForEvent('download');
      await page.click('.export-link');
      await (await download).path();
      await page.goto(url('#/followups'));
      assert.equal(await waitForState(page, '.page-followups', ['ready', 'error']), 'ready');
      await page.waitForLoadState('networkidle');

      const seen = fresh.requests.map((request) => new URL(request.url()));
      for (const address of seen) {
        // A fragment never leaves the browser; what is sent is path and query.
        assert.ok(!`${address.pathname}${address.search}`.includes(TEST_API_KEY), `key in ${address.pathname}${address.search}`);
        assert.ok(!address.search.includes('xs_'), `a key-like value in ${address.search}`);
      }
      const api = apiRequests(fresh.requests);
      const paths = new Set(api.map((request) => new URL(request.url()).pathname));
      for (const expected of ['/api/v1/boards', '/api/v1/tags', '/api/v1/search', '/api/v1/search/export', '/api/v1/followups']) {
        assert.ok(paths.has(expected), `${expected} was requested (${[...paths]})`);
      }
      for (const request of fresh.requests) {
        const headers = await request.allHeaders();
        const isApi = new URL(request.url()).pathname.startsWith('/api/');
        assert.equal(headers.authorization, isApi ? `Bearer ${TEST_API_KEY}` : undefined, request.url());
        for (const [name, value] of Object.entries(headers)) {
          if (name !== 'authorization') assert.ok(!value.includes(TEST_API_KEY), `${name} of ${request.url()} holds the key`);
        }
      }
      assert.deepEqual(problems, []);
      await page.close();
    } finally {
      await fresh.close();
    }
  });

  test('a key without the read scope gets a readable refusal, not a sign-in loop', async () => {
    const ingestOnly = await createKey(service.baseUrl, { name: 'ui test: ingest only', scopes: ['ingest'] });
    const fresh = await freshBrowser();
    try {
      const { page, problems } = await openPage(fresh.context);
      await page.goto(url(''));
      await waitForState(page, '.page-signin');
      await submitKey(page, ingestOnly.key);
      assert.equal(await waitForState(page, '.page-signin', ['error']), 'error');
      assert.equal(await page.textContent('.signin-error'), '该密钥没有 read 权限，不能查看看板和反馈。请使用带 read 权限的密钥。');
      assert.equal(await storedKey(page), null);

      // Handed over in a link, the key is kept and every page says why it shows nothing.
      await page.goto(url(`#key=${ingestOnly.key}`));
      assert.equal(await waitForState(page, '.page-search', ['ready', 'error']), 'error');
      assert.equal(await signedOut(page), false, 'the sign-in view does not come back');
      const message = await page.textContent('.results .state-error .error-message');
      assert.ok(message.startsWith('权限不足') && message.includes('read'), message);
      assert.ok((await page.textContent('#nav-boards')).includes('权限不足'));
      assert.equal(await page.isVisible('[data-action="sign-out"]'), true, 'the way to another key');
      assert.deepEqual(unexpectedProblems(problems, 403), []);
      await page.close();
    } finally {
      await fresh.close();
    }
  });

  test('a key over its request budget gets "retry in N s", from Retry-After', async () => {
    // One request a minute: the sign-in check spends it, the pages' requests are refused.
    const slow = await createKey(service.baseUrl, { name: 'ui test: one a minute', scopes: ['read'], rateLimitPerMinute: 1 });
    const fresh = await freshBrowser();
    try {
      const { page, problems } = await openPage(fresh.context);
      await page.goto(url('#/search?q=x'));
      await waitForState(page, '.page-signin');
      await submitKey(page, slow.key);
      assert.equal(await waitForState(page, '.page-search', ['ready', 'error']), 'error');
      const message = await page.textContent('.results .state-error .error-message');
      const match = /^请求过于频繁，请 (\d+) 秒后重试。$/.exec(message);
      assert.ok(match, message);
      assert.ok(Number(match[1]) >= 1 && Number(match[1]) <= 60, message);
      assert.equal(await signedOut(page), false);
      assert.deepEqual(unexpectedProblems(problems, 429), []);
      await page.close();
    } finally {
      await fresh.close();
    }
  });

  test('a key revoked while in use brings the sign-in view back with the reason, and the page returns after signing in', async () => {
    const revoked = await createKey(service.baseUrl, { name: 'ui test: revoked', scopes: ['read'] });
    const fresh = await freshBrowser();
    try {
      await signIn(fresh.context, service.baseUrl, revoked.key);
      const { page, problems } = await openPage(fresh.context);
      assert.equal(await openBoard(page, 'issues'), 'ready');
      await page.waitForLoadState('networkidle');
      const response = await apiFetch(service.baseUrl, `/api/v1/keys/${revoked.id}`, { method: 'DELETE' });
      assert.ok(response.ok, `revoking: HTTP ${response.status}`);
      await page.click('.filter-bar button[data-days="7"]');
      assert.equal(await waitForState(page, '.page-signin'), 'ready');
      assert.equal(await page.textContent('.signin-notice'), '密钥已失效（未知或已被吊销），请重新登录。');
      assert.equal(await storedKey(page), null);
      assert.equal(await page.$('.page-board .state-error'), null, 'no error state drawn over the sign-in view');
      assert.equal(await page.textContent('.refresh-status'), '');
      await submitKey(page, TEST_API_KEY);
      assert.equal(await waitForState(page, '.page-board[data-board="issues"]', ['ready', 'error']), 'ready');
      assert.equal(hashParams(page.url()).days, '7');
      await page.waitForLoadState('networkidle');
      assert.deepEqual(unexpectedProblems(problems, 401, { abortedApi: true }), []);
      await page.close();
    } finally {
      await fresh.close();
    }
  });
});
