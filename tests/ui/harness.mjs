// Test harness: starts the real xinsheng binary on a free loopback port with
// a fresh data directory and the demo data, waits until every demo item is
// analysed and indexed, and drives Debian's chromium through playwright-core
// (no browser download). It builds nothing: the binary comes from
// $XINSHENG_BIN, else $CARGO_TARGET_DIR/release/xinsheng, else
// target/release/xinsheng (`make ui-test` builds it first).
//
// The service starts with XINSHENG_BOOTSTRAP_KEY = TEST_API_KEY, so the
// default tenant's first key (all scopes) is known: the tests' own API
// calls send it, and browsers sign in with it (`signIn`, the `/#key=` link
// the service prints at first start).

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SCREENSHOT_DIR = path.join(REPO_ROOT, 'docs', 'screenshots');
export const VIEWPORT = { width: 1440, height: 900 };

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--lang=zh-CN',
];
const STARTUP_TIMEOUT_MS = 120_000;

/** The default tenant's first key (scopes ingest, read, admin). */
export const TEST_API_KEY = 'xs_uitest_0123456789abcdef0123456789abcdef';

export function binaryPath() {
  if (process.env.XINSHENG_BIN) return path.resolve(REPO_ROOT, process.env.XINSHENG_BIN);
  const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR) : path.join(REPO_ROOT, 'target');
  return path.join(targetDir, 'release', 'xinsheng');
}

export function chromiumPath() {
  return process.env.CHROMIUM || '/usr/bin/chromium';
}

async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

const sleep = (milliseconds) => new Promise((resolve) => { setTimeout(resolve, milliseconds); });

/** A running service; `stop()` kills it and removes its data directory. */
export async function startService() {
  const binary = binaryPath();
  if (!fs.existsSync(binary)) {
    throw new Error(`xinsheng binary not found at ${binary}; run \`cargo build --release --locked\` or set XINSHENG_BIN`);
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xinsheng-ui-'));
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const log = [];
  const child = spawn(binary, ['--data-dir', dataDir, 'serve', '--demo', '--listen', `127.0.0.1:${port}`], {
    cwd: REPO_ROOT,
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn', XINSHENG_BOOTSTRAP_KEY: TEST_API_KEY },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (chunk) => {
    log.push(chunk.toString());
    if (log.length > 200) log.shift();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });

  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const killed = await Promise.race([once(child, 'exit').then(() => true), sleep(5000).then(() => false)]);
      if (!killed) child.kill('SIGKILL');
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`xinsheng exited (${JSON.stringify(exited)}) before it was ready:\n${log.join('')}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`xinsheng was not ready within ${STARTUP_TIMEOUT_MS} ms:\n${log.join('')}`);
    }
    try {
      const response = await fetch(`${baseUrl}/healthz`);
      if (response.ok) {
        const health = await response.json();
        // Ready when the demo is stored and nothing waits for analysis.
        if (health.queue && health.queue.pending === 0 && health.indexed_documents > 0) break;
      }
    } catch {
      // Not listening yet.
    }
    await sleep(250);
  }
  return { baseUrl, dataDir, log, stop };
}

/** A fresh chromium profile (its own user-data-dir) with the reference viewport. */
export async function startBrowser() {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xinsheng-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath(),
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: VIEWPORT,
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
    // Date inputs follow the process locale, not the page's.
    env: { ...process.env, LANG: 'zh_CN.UTF-8', LANGUAGE: 'zh_CN:zh' },
  });
  context.setDefaultTimeout(20_000);
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Opens a page that records what the tests assert never happens: console
 * errors, uncaught exceptions, failed requests and HTTP errors.
 */
export async function openPage(context) {
  const page = await context.newPage();
  const problems = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.method()} ${request.url()} ${request.failure() ? request.failure().errorText : ''}`));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.request().method()} ${response.url()}`);
  });
  return { page, problems };
}

/** A request to the service as TEST_API_KEY (or `key`), like a script would send it. */
export function apiFetch(baseUrl, pathAndQuery, { key = TEST_API_KEY, headers = {}, ...options } = {}) {
  return fetch(`${baseUrl}${pathAndQuery}`, { ...options, headers: { Authorization: `Bearer ${key}`, ...headers } });
}

/** GET a JSON API path on the service (the tests' independent view of the numbers). */
export async function getJson(baseUrl, pathAndQuery) {
  const response = await apiFetch(baseUrl, pathAndQuery);
  const body = await response.json();
  if (!response.ok) throw new Error(`${pathAndQuery}: HTTP ${response.status} ${JSON.stringify(body)}`);
  return body;
}

/** Creates a key of the default tenant through the keys API: `{id, key}`. */
export async function createKey(baseUrl, { name, scopes, rateLimitPerMinute = null }) {
  const response = await apiFetch(baseUrl, '/api/v1/keys', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name, scopes, rate_limit_per_minute: rateLimitPerMinute }),
  });
  const body = await response.json();
  if (response.status !== 201) throw new Error(`creating a key: HTTP ${response.status} ${JSON.stringify(body)}`);
  return { id: body.id, key: body.key };
}

/**
 * Signs a browser context in the way a person does with the link printed at
 * first start (`/#key=…`): the key lands in the origin's localStorage, which
 * every later page of the context shares.
 */
export async function signIn(context, baseUrl, key = TEST_API_KEY) {
  const page = await context.newPage();
  await page.goto(`${baseUrl}/#key=${key}`);
  await page.waitForFunction(() => !document.body.classList.contains('signed-out')
    && document.querySelector('.page[data-state="ready"], .page[data-state="error"]') !== null);
  await page.waitForLoadState('networkidle');
  await page.close();
}

/** Waits until a page section says it finished loading (`data-state` ready/error). */
export async function waitForState(page, selector, states = ['ready']) {
  await page.waitForFunction(([sel, wanted]) => {
    const element = document.querySelector(sel);
    return element && wanted.includes(element.dataset.state);
  }, [selector, states]);
  return page.$eval(selector, (element) => element.dataset.state);
}

export async function screenshot(page, name) {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  // Let ECharts finish its entry animation first.
  await page.waitForTimeout(700);
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: false });
}

/** The hash's query as an object: `#/search?tag=a&polarity=neg` → {tag: 'a', polarity: 'neg'}. */
export function hashParams(url) {
  const hash = new URL(url).hash;
  const query = hash.includes('?') ? hash.slice(hash.indexOf('?') + 1) : '';
  return Object.fromEntries(new URLSearchParams(query));
}

/** How the UI writes a count and a 0..1 rate (format.js), for comparing text with API numbers. */
export function expectedCountText(value) {
  return new Intl.NumberFormat('zh-CN', { maximumFractionDigits: 0 }).format(value);
}

export function expectedPercentText(share) {
  return `${(share * 100).toFixed(1)}%`;
}
