// Drives weir's web console in Debian's chromium and prints what it saw as
// one JSON object on stdout (tests/e2e/console.rs asserts on it).
//
//   node tests/browser/console.mjs --url URL [--token TOKEN] [--reload PLUGIN]
//        [--screenshot FILE] [--wait-letter] [--expect-refusal]
//
// Exits 1 (with a message on stderr, and still the JSON it has) only when
// the browser cannot start or the page never loads.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

const CHROMIUM = '/usr/bin/chromium';

function parseArgs(argv) {
  const args = { url: null, token: null, reload: null, screenshot: null, waitLetter: false, expectRefusal: false };
  const value = (i) => {
    if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    switch (argv[i]) {
      case '--url': args.url = value(i++); break;
      case '--token': args.token = value(i++); break;
      case '--reload': args.reload = value(i++); break;
      case '--screenshot': args.screenshot = value(i++); break;
      case '--wait-letter': args.waitLetter = true; break;
      case '--expect-refusal': args.expectRefusal = true; break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!args.url) throw new Error('--url is required');
  return args;
}

// What the page shows, read from its stable hooks (see app.js).
async function observe(page) {
  return page.evaluate(() => {
    const nodes = [...document.querySelectorAll('#graph [data-stage]')];
    const num = (v) => (v == null || v === '' ? null : Number(v));
    const plugins = {};
    for (const card of document.querySelectorAll('[data-plugin]')) plugins[card.dataset.plugin] = card.dataset.sha || '';
    return {
      stages: nodes.map((n) => n.dataset.stage),
      states: Object.fromEntries(nodes.map((n) => [n.dataset.stage, n.dataset.state])),
      records_read: num(document.querySelector('#records-read')?.dataset.value),
      watermark_ms: num(document.querySelector('#watermark')?.dataset.value),
      plugins,
      letters: [...document.querySelectorAll('#letters [data-reason]')].map((r) => ({ stage: r.dataset.stage, reason: r.dataset.reason })),
      restarts: [...document.querySelectorAll('#checkpoints [data-failure]')].map((r) => ({ epoch: num(r.dataset.failure), stage: r.dataset.stage, action: r.dataset.action })),
      config: document.querySelector('#config')?.textContent ?? null,
    };
  });
}

async function visible(page, selector, timeout) {
  try {
    await page.waitForSelector(selector, { state: 'visible', timeout });
    return true;
  } catch {
    return false;
  }
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`console.mjs: ${e.message}\n`);
    process.exit(2);
  }

  const out = {};
  const consoleErrors = [];
  const failedRequests = [];
  // 401s are how the server asks for the token: expected, not failures.
  const expected401 = new Set();

  let browser;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
  } catch (e) {
    process.stderr.write(`console.mjs: chromium (${CHROMIUM}) does not start: ${e.message}\n`);
    print(out, consoleErrors, failedRequests);
    process.exit(1);
  }

  let code = 0;
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('response', (res) => {
      if (res.status() === 401) expected401.add(res.url());
      else if (res.status() >= 400) failedRequests.push({ url: res.url(), status: res.status(), method: res.request().method() });
    });
    page.on('requestfailed', (req) => {
      failedRequests.push({ url: req.url(), error: req.failure()?.errorText ?? 'failed', method: req.method() });
    });
    page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const text = msg.text();
      // Chromium logs every 4xx as "Failed to load resource"; the 401s are expected.
      if (/status of 401/.test(text) && expected401.has(msg.location()?.url)) return;
      consoleErrors.push(text);
    });

    await page.goto(args.url, { waitUntil: 'domcontentloaded', timeout: 20000 });

    if (args.expectRefusal) {
      out.token_form = await visible(page, '#token-form', 10000);
      out.loaded = (await page.evaluate(() => document.body.dataset.loaded)) === '1';
      out.records_read_shown = (await observe(page)).records_read;
      await screenshot(page, args.screenshot);
      return;
    }

    // The token form shows up after the first 401; give it a moment.
    if (args.token) {
      const needed = await Promise.race([
        visible(page, '#token-form', 5000),
        page.waitForSelector('body[data-loaded="1"]', { timeout: 5000 }).then(() => false, () => false),
      ]);
      if (needed) {
        await page.fill('#token', args.token);
        await page.click('#token-form button[type="submit"]');
      }
    }

    try {
      await page.waitForSelector('body[data-loaded="1"]', { timeout: 20000 });
    } catch {
      const form = await page.isVisible('#token-form');
      throw new Error(`the page never loaded a state in 20 s${form ? ' (it asks for the admin token)' : ''}`);
    }
    // The configuration is fetched right after the first state.
    await page.waitForFunction(() => (document.querySelector('#config')?.textContent ?? '') !== '', null, { timeout: 5000 }).catch(() => {});
    out.first = await observe(page);

    await page.waitForTimeout(3000);
    if (args.waitLetter) {
      await page.waitForSelector('#letters [data-reason]', { timeout: 20000 }).catch(() => {});
    }
    out.second = await observe(page);

    if (args.reload) await reload(page, args.reload, out);
    await screenshot(page, args.screenshot);
  } catch (e) {
    process.stderr.write(`console.mjs: ${e.message}\n`);
    code = 1;
  } finally {
    print(out, consoleErrors, failedRequests);
    await browser.close().catch(() => {});
  }
  process.exit(code);
}

// Clicks the plugin's Reload and waits for the card to show a new build.
async function reload(page, plugin, out) {
  const card = `[data-plugin="${plugin.replace(/["\\]/g, '\\$&')}"]`;
  if (!(await page.$(`${card} button.reload`))) {
    out.after_reload = { ...(await observe(page)), answer: null, timed_out: true, error: `no plugin card for ${plugin}` };
    return;
  }
  const before = out.first.plugins[plugin] ?? (await page.getAttribute(card, 'data-sha'));
  await page.click(`${card} button.reload`, { timeout: 5000 });
  let timedOut = false;
  try {
    await page.waitForFunction(([sel, sha]) => {
      const e = document.querySelector(sel);
      return e && e.dataset.sha && e.dataset.sha !== sha;
    }, [card, before], { timeout: 30000 });
  } catch {
    timedOut = true;
  }
  // The answer arrives with the POST's response, possibly after the poll
  // that showed the new build: wait for it briefly.
  await page.waitForFunction((sel) => {
    const a = document.querySelector(`${sel} .answer`);
    return a && a.dataset.kind && a.dataset.kind !== 'pending';
  }, card, { timeout: 5000 }).catch(() => {});
  out.after_reload = { ...(await observe(page)), answer: (await page.textContent(`${card} .answer`).catch(() => null)) ?? null };
  if (timedOut) out.after_reload.timed_out = true;
}

async function screenshot(page, file) {
  if (!file) return;
  mkdirSync(dirname(file), { recursive: true });
  // From the top, as a reader first sees it (a click may have scrolled).
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: file, fullPage: true });
}

function print(out, consoleErrors, failedRequests) {
  process.stdout.write(JSON.stringify({ ...out, console_errors: consoleErrors, failed_requests: failedRequests }) + '\n');
}

main();
