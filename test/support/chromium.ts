/**
 * A real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core) for tests that
 * need the pages rendered and clicked as a person would. Each person gets a fresh browser context
 * (own cookies); requests to the test app's callback host are answered here with a tiny page, so
 * a test can wait for the redirect back to the app and read the final URL.
 */
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { CALLBACK } from './app';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
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
export const CALLBACK_ROUTE = `${new URL(CALLBACK).origin}/**`;

const CALLBACK_PAGE = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test app</title></head><body><p>Back at the app.</p></body></html>';

export type PersonBrowser = { context: BrowserContext; page: Page };

export type Chromium = {
  browser: Browser;
  /** A fresh context (no cookies) with one page, and the app's callback host answered locally. */
  newPerson(options?: { timeoutMs?: number }): Promise<PersonBrowser>;
  /** Closes every context opened here, then the browser. */
  close(): Promise<void>;
};

export async function launchChromium(): Promise<Chromium> {
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  const contexts = new Set<BrowserContext>();
  return {
    browser,
    async newPerson({ timeoutMs = 15_000 } = {}) {
      const context = await browser.newContext({ viewport: { width: 1024, height: 800 } });
      contexts.add(context);
      context.on('close', () => contexts.delete(context));
      context.setDefaultTimeout(timeoutMs);
      context.setDefaultNavigationTimeout(timeoutMs);
      await context.route(CALLBACK_ROUTE, (route) =>
        route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: CALLBACK_PAGE }),
      );
      const page = await context.newPage();
      return { context, page };
    },
    async close() {
      for (const context of [...contexts]) await context.close().catch(() => undefined);
      await browser.close();
    },
  };
}
