import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CounterClient, type SeriesBucket } from '../../client/counter-client.ts';
import {
  type Browser,
  type ConsoleProcess,
  chromiumPath,
  launchBrowser,
  startConsoleProcess,
} from '../support/browser.ts';
import { type ServerProcess, startServer } from '../support/server-process.ts';
import { ADMIN, eventually } from '../support/signed-client.ts';

/** Waits until the element's text is exactly `text`, as a person would wait to see it. */
async function seeText(page: Page, selector: string, text: string): Promise<void> {
  await page.waitForFunction(
    ([css, expected]) => {
      // This runs in the page, whose DOM types this Node project leaves out.
      const { document } = globalThis as unknown as {
        document: { querySelector(css: string): { textContent: string | null } | null };
      };
      return document.querySelector(css)?.textContent?.trim() === expected;
    },
    [selector, text] as const,
  );
}

/** Waits until `selector` matches exactly `count` elements. */
async function seeCount(page: Page, selector: string, count: number): Promise<void> {
  await page.waitForFunction(
    ([css, expected]) => {
      const { document } = globalThis as unknown as {
        document: { querySelectorAll(css: string): { length: number } };
      };
      return document.querySelectorAll(css).length === expected;
    },
    [selector, count] as const,
  );
}

/** The cells of a table's body, row by row, as shown. */
function rowsOf(page: Page, selector: string): Promise<string[][]> {
  return page.$$eval(`${selector} tbody tr`, (rows) =>
    rows.map((row) => [...row.children].map((cell) => cell.textContent?.trim() ?? '')),
  );
}

/** A raw request to the console, with headers a browser would not let a page set. */
function rawRequest(url: string, method: string, headers: Record<string, string>, body?: string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest(url, { method, headers }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.once('error', reject);
    req.end(body);
  });
}

// What a person sees in the console, in a real Chromium, against the local server through the console
// process; every counter is made through the API first.
describe('web console, in a browser', () => {
  let server: ServerProcess;
  let consoleProcess: ConsoleProcess;
  let browser: Browser;
  let client: CounterClient;
  let page: Page;

  beforeAll(async () => {
    // A missing Chromium fails here, before anything is started.
    chromiumPath();
    const [launched, started] = await Promise.allSettled([launchBrowser(), startServer()]);
    // Whichever started is kept, so afterAll stops it even when the other failed.
    if (launched.status === 'fulfilled') browser = launched.value;
    if (started.status === 'fulfilled') server = started.value;
    if (launched.status === 'rejected') throw launched.reason;
    if (started.status === 'rejected') throw started.reason;
    consoleProcess = await startConsoleProcess(server.url);
    client = new CounterClient({ url: server.url, credentials: ADMIN });
  });

  afterAll(async () => {
    await browser?.close();
    if (consoleProcess !== undefined) {
      // Ctrl-C stops the console cleanly.
      expect(await consoleProcess.stop(), consoleProcess.stderr()).toBe(0);
    }
    await server?.stop();
  });

  const open = async (prefix: string): Promise<Page> => {
    page = await browser.context.newPage();
    await page.goto(consoleProcess.url);
    await seeText(page, '#api-url', server.url.endsWith('/') ? server.url : `${server.url}/`);
    await page.getByLabel('Name starts with').fill(prefix);
    await page.getByRole('button', { name: 'Search' }).click();
    return page;
  };

  const select = async (name: string): Promise<void> => {
    await page.getByRole('button', { name, exact: true }).click();
    await seeText(page, '#counter-name', name);
  };

  afterEach(async () => {
    await page?.close();
  });

  it('lists the counters under a prefix, a page at a time', async () => {
    await Promise.all(
      Array.from({ length: 12 }, (_, i) => client.set(`list.${String(i).padStart(2, '0')}`, i * 10)),
    );
    await open('list.');
    await seeCount(page, '#counters tbody tr', 12);
    await page.getByLabel('Per page').first().selectOption('10');
    await seeCount(page, '#counters tbody tr', 10);

    const first = await rowsOf(page, '#counters');
    await page.getByRole('button', { name: 'Next' }).first().click();
    await seeText(page, '#list-page', 'Page 2');
    const second = await rowsOf(page, '#counters');
    await page.getByRole('button', { name: 'Previous' }).first().click();
    await seeText(page, '#list-page', 'Page 1');

    expect(first).toHaveLength(10);
    expect(first[0]).toEqual(['list.00', '0']);
    expect(second).toEqual([
      ['list.10', '100'],
      ['list.11', '110'],
    ]);
    expect(await page.locator('#list-next').isDisabled()).toBe(false);
    expect(await rowsOf(page, '#counters')).toEqual(first);
  });

  it("shows a counter's value and version, its chart with a point per bucket, and its history a page at a time", async () => {
    for (let i = 1; i <= 25; i++) await client.increment('hist.a', i);
    const history = await eventually(async () => {
      let count = 0;
      for await (const _ of client.history('hist.a')) count++;
      return count === 25 ? count : undefined;
    });
    // The series is read from rollups, which the stream consumer writes beside the history.
    const buckets = await eventually(async () => {
      const found: SeriesBucket[] = [];
      for await (const bucket of client.series('hist.a', { interval: 'minute' })) found.push(bucket);
      return found.reduce((sum, bucket) => sum + bucket.count, 0) === 25 ? found : undefined;
    });

    await open('hist.');
    await select('hist.a');
    await seeText(page, '#counter-value', String((25 * 26) / 2));
    await seeText(page, '#counter-version', '25');
    await page.getByLabel('Interval').selectOption('minute');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForSelector(`#chart[data-points="${buckets.length}"] canvas`);
    await seeCount(page, '#history tbody tr', 20);
    await page.getByLabel('Per page').last().selectOption('10');
    await seeCount(page, '#history tbody tr', 10);
    const pages = [await rowsOf(page, '#history')];
    for (const next of ['11', '21']) {
      await page.getByRole('button', { name: 'Next' }).last().click();
      await seeText(page, '#history tbody tr:first-child td:first-child', next);
      pages.push(await rowsOf(page, '#history'));
    }
    const lastPageHasNext = await page.locator('#history-next').isEnabled();
    await page.getByRole('button', { name: 'Previous' }).last().click();
    await seeText(page, '#history tbody tr:first-child td:first-child', '11');

    expect(history).toBe(25);
    expect(pages.map((rows) => rows.map((row) => Number(row[0])))).toEqual([
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      [11, 12, 13, 14, 15, 16, 17, 18, 19, 20],
      [21, 22, 23, 24, 25],
    ]);
    expect(pages[2]?.at(-1)?.slice(0, 4)).toEqual(['25', 'increment', '+25', '325']);
    expect(lastPageHasNext).toBe(false);
    expect(await page.locator('#chart-summary').textContent()).toContain(`${buckets.length} minute bucket`);
  });

  it('draws one point per bucket the API answers, over its whole window', async () => {
    await client.increment('chart.a', 1);
    const hours: SeriesBucket[] = Array.from({ length: 24 }, (_, hour) => ({
      start: `2026-01-01T${String(hour).padStart(2, '0')}:00:00.000Z`,
      delta: hour % 3 === 0 ? -1 : 2,
      count: 1,
      value: hour,
    }));
    // A day of history cannot be made in a test run: this answer stands in for the service's series.
    await browser.context.route('**/api/counters/chart.a/series?*', (route) =>
      route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(hours) }),
    );

    await open('chart.');
    await select('chart.a');
    await page.waitForSelector('#chart[data-points="24"] canvas');
    await browser.context.unroute('**/api/counters/chart.a/series?*');

    expect(await page.locator('#chart-summary').textContent()).toContain('24 hour buckets with 24 changes');
    expect(await page.locator('#buckets tbody tr').count()).toBe(24);
  });

  it('shows an increment at once, and its history entry when the stream has delivered it', async () => {
    await client.set('inc.a', 5);
    await open('inc.');
    await select('inc.a');

    await page.getByLabel('Add').fill('3');
    await page.getByRole('button', { name: 'Increment' }).click();
    await seeText(page, '#counter-value', '8');
    await seeText(page, '#counter-version', '2');
    await seeText(page, '#counters tbody tr[data-name="inc.a"] td', '8');
    await seeText(page, '#status', 'inc.a is now 8.');
    await seeText(page, '#history tbody tr:nth-child(2) td:first-child', '2');

    expect((await rowsOf(page, '#history'))[1]?.slice(0, 4)).toEqual(['2', 'increment', '+3', '8']);
    expect(await client.get('inc.a')).toMatchObject({ value: 8, version: 2 });
    expect(await page.locator('#problem').isHidden()).toBe(true);
  });

  it("shows a refused change as the API's problem, and changes nothing", async () => {
    await client.set('refused.a', 1);
    await open('refused.');
    await select('refused.a');
    // Someone else changes it after the page showed version 1.
    await client.increment('refused.a', 1);

    await page.getByLabel('Set to').fill('100');
    await page.getByRole('button', { name: 'Set', exact: true }).click();
    await page.getByRole('alert').waitFor();

    expect(await page.locator('#problem-title').textContent()).toMatch(/^412 /);
    expect(await page.locator('#problem-detail').textContent()).toMatch(/version 1.*version 2/);
    expect(await client.get('refused.a')).toMatchObject({ value: 2, version: 2 });
    await seeText(page, '#counter-value', '1');
  });

  it('deletes only after confirmation', async () => {
    await client.set('delete.a', 3);
    await open('delete.');
    await select('delete.a');

    await page.getByRole('button', { name: 'Delete…' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Keep it' }).click();
    const kept = await client.get('delete.a');
    await page.getByRole('button', { name: 'Delete…' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await seeText(page, '#status', 'delete.a was deleted.');

    expect(kept).toMatchObject({ value: 3 });
    await expect(client.get('delete.a')).rejects.toMatchObject({ status: 404 });
    await seeCount(page, '#counters tbody tr', 0);
  });

  it('is usable from the keyboard alone, and follows a dark system setting', async () => {
    await client.set('keys.a', 4);
    page = await browser.context.newPage();
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(consoleProcess.url);
    await page.waitForSelector('#counters tbody tr');

    await page.keyboard.press('/');
    await page.keyboard.type('keys.');
    await page.keyboard.press('Enter');
    await seeText(page, '#counters tbody tr:first-child th', 'keys.a');
    // From the search box: Search, the page size, then the first counter.
    for (let i = 0; i < 3; i++) await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await seeText(page, '#counter-value', '4');

    const background = await page
      .locator('body')
      .evaluate((body) => body.ownerDocument.defaultView?.getComputedStyle(body).backgroundColor);
    expect(background).toBe('rgb(21, 23, 26)');
  });

  it('refuses calls from a foreign Origin or Host, and a cross-site page cannot change a counter through it', async () => {
    await client.set('csrf.a', 1);
    const target = `${consoleProcess.url}api/counters/csrf.a`;
    const port = new URL(consoleProcess.url).port;
    const json = { 'content-type': 'application/json' };

    const foreignOrigin = await rawRequest(
      target,
      'POST',
      { ...json, origin: 'http://evil.example' },
      '{"by":1000}',
    );
    const rebound = await rawRequest(target, 'GET', { host: `evil.example:${port}` });
    const own = await rawRequest(target, 'GET', { origin: `http://127.0.0.1:${port}` });

    // A page on another origin tries it from the browser, as a cross-site attack would.
    const evil: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>elsewhere</title>');
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    try {
      page = await browser.context.newPage();
      await page.goto(`http://localhost:${(evil.address() as AddressInfo).port}/`);
      // JSON needs a preflight, which the console refuses; without one the request is never sent.
      const outcome = await page.evaluate(
        (url) =>
          fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{"by":1000}',
          }).then(
            (response) => `answered ${response.status}`,
            () => 'refused',
          ),
        target,
      );
      expect(outcome).toBe('refused');
    } finally {
      // The browser keeps its connection open: close it too, or close() waits for it.
      evil.closeAllConnections();
      await new Promise((resolve) => evil.close(resolve));
    }

    expect(foreignOrigin.status).toBe(403);
    expect(JSON.parse(foreignOrigin.body)).toMatchObject({
      status: 403,
      detail: expect.stringMatching(/another origin/),
    });
    expect(rebound.status).toBe(403);
    expect(own.status).toBe(200);
    expect(await client.get('csrf.a')).toMatchObject({ value: 1, version: 1 });
  });
});
