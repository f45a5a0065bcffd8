/**
 * A real headless Chromium (driven by playwright-core) for tests that need the pages rendered and
 * clicked as a person would. It is found at CHROMIUM_PATH, then where Debian, Ubuntu and macOS put
 * Chromium or Chrome, then — on Linux x64 — inside the @sparticuz/chromium dev dependency, so
 * `npm install && npm test` needs nothing else; anywhere else the tests fail at once saying what to
 * install. Each person gets a fresh browser context
 * (own cookies); requests to the test app's callback host are answered here with a tiny page.
 * Chromium does not always route a server-side redirect to that unresolvable host, so tests learn
 * where the app was sent back to from the request, not from the page's final URL (`callbackAfter`,
 * `watchCallbacks` and `backAtApp`), and let that navigation end before the next one starts.
 */
import fs from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { CALLBACK } from './app';

/** Where a Chromium or Chrome is usually installed, in the order tried. */
const INSTALLED = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/snap/bin/chromium',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
];

const WHAT_TO_INSTALL =
  'No Chromium found: set CHROMIUM_PATH to a Chromium or Chrome executable, or install one (Debian/Ubuntu: apt-get install chromium; macOS: Google Chrome).';

/** The browser to launch: its executable and the flags it needs beyond CHROMIUM_ARGS. */
async function locateChromium(): Promise<{ executablePath: string; args: string[] }> {
  const chosen = process.env.CHROMIUM_PATH;
  if (chosen) {
    if (!fs.existsSync(chosen)) throw new Error(`CHROMIUM_PATH is ${chosen}, which does not exist. ${WHAT_TO_INSTALL}`);
    return { executablePath: chosen, args: [] };
  }
  const installed = INSTALLED.find((candidate) => fs.existsSync(candidate));
  if (installed) return { executablePath: installed, args: [] };
  if (process.platform === 'linux' && process.arch === 'x64') {
    // Only the executable: the package's own flags are tuned for serverless functions (one process, web security
    // off, no zygote), under which downloads are cancelled and a closed context can take the browser down.
    const packaged = (await import('@sparticuz/chromium')).default;
    return { executablePath: await packaged.executablePath(), args: [] };
  }
  throw new Error(WHAT_TO_INSTALL);
}

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];

/** Every URL on the app's callback origin, e.g. https://app.example/**. */
const CALLBACK_ROUTE = `${new URL(CALLBACK).origin}/**`;

const CALLBACK_PAGE = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test app</title></head><body><p>Back at the app.</p></body></html>';

type PersonBrowser = { context: BrowserContext; page: Page };

export type Chromium = {
  browser: Browser;
  /**
   * A fresh context (no cookies) with one page, and the app's callback host answered locally;
   * `timezoneId` sets the browser's time zone (the person's pages follow it).
   */
  newPerson(options?: { timeoutMs?: number; timezoneId?: string }): Promise<PersonBrowser>;
  /** Closes every context opened here, then the browser. */
  close(): Promise<void>;
};

export async function launchChromium(): Promise<Chromium> {
  const { executablePath, args } = await locateChromium();
  const browser = await chromium.launch({ executablePath, args: [...new Set([...args, ...CHROMIUM_ARGS])] });
  const contexts = new Set<BrowserContext>();
  return {
    browser,
    async newPerson({ timeoutMs = 15_000, timezoneId }: { timeoutMs?: number; timezoneId?: string } = {}) {
      const context = await browser.newContext({ viewport: { width: 1024, height: 800 }, ...(timezoneId ? { timezoneId } : {}) });
      contexts.add(context);
      context.on('close', () => contexts.delete(context));
      context.setDefaultTimeout(timeoutMs);
      context.setDefaultNavigationTimeout(timeoutMs);
      await context.route(CALLBACK_ROUTE, (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: CALLBACK_PAGE }));
      const page = await context.newPage();
      return { context, page };
    },
    async close() {
      for (const context of [...contexts]) await context.close().catch(() => undefined);
      await browser.close();
    },
  };
}

/** Whether the page has settled after a redirect to the app's callback: on the app's page, or Chromium's error page for its host. */
function atCallback(url: URL): boolean {
  return url.href.startsWith(CALLBACK) || url.protocol === 'chrome-error:';
}

/**
 * The callback URL the page is sent to once `go` runs (`go` may fail as the navigation is cut
 * short); the page settles on it (or Chromium's error page) before going on, so the next
 * navigation is not interrupted.
 */
export async function callbackAfter(page: Page, go: () => Promise<unknown>): Promise<string> {
  const callback = page.waitForRequest((request) => request.url().startsWith(CALLBACK));
  await go().catch(() => undefined);
  const url = (await callback).url();
  await page.waitForURL(atCallback).catch(() => undefined);
  return url;
}

/**
 * Goes to `url` once the page's own navigations have settled: after a redirect to the app's
 * unreachable callback Chromium may still be loading its error page, which interrupts a new
 * navigation, so an interrupted one is tried again (a few times, half a second apart).
 */
export async function gotoSettled(page: Page, url: string): Promise<void> {
  for (let tries = 1; ; tries += 1) {
    try {
      await page.goto(url);
      return;
    } catch (error) {
      if (tries >= 5 || !String(error).includes('interrupted by another navigation')) throw error;
    }
    await page.waitForTimeout(500);
  }
}

/** Each watched page's requests to the app's callback, and how many `backAtApp` has handed out. */
const callbacks = new WeakMap<Page, { seen: string[]; read: number }>();

/** Records every request the page makes to the app's callback, for `backAtApp`, when the redirect is not started by one known click. */
export function watchCallbacks(page: Page): void {
  const watched = { seen: [] as string[], read: 0 };
  callbacks.set(page, watched);
  page.on('request', (request) => {
    if (request.url().startsWith(CALLBACK)) watched.seen.push(request.url());
  });
}

/** The next URL the watched page was sent back to on the app's callback (waiting up to 15 s), once the page has settled. */
export async function backAtApp(page: Page): Promise<URL> {
  const watched = callbacks.get(page);
  if (!watched) throw new Error('watchCallbacks(page) first');
  for (let i = 0; i < 150 && watched.seen.length <= watched.read; i += 1) await new Promise((resolve) => setTimeout(resolve, 100));
  const url = watched.seen[watched.read];
  if (!url) throw new Error('the browser was not sent back to the app');
  watched.read += 1;
  for (let i = 0; i < 100 && !atCallback(new URL(page.url())); i += 1) await new Promise((resolve) => setTimeout(resolve, 50));
  await page.waitForLoadState();
  return new URL(url);
}
