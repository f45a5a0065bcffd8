/**
 * Server-rendered pages: a view rendered inside the layout. Views escape everything with `<%=`;
 * the layout receives the already-rendered body.
 */
import path from 'node:path';
import ejs from 'ejs';
import type { Response } from 'express';
import { VIEWS_DIR } from '../paths';
import { personOf } from './require-person';

export type PageLocals = Record<string, unknown> & { title: string };

/** Renders `view` (relative to views/) inside the layout. */
export async function renderPage(view: string, locals: PageLocals): Promise<string> {
  const options = { cache: true, root: VIEWS_DIR };
  const body = await ejs.renderFile(path.join(VIEWS_DIR, `${view}.ejs`), locals, options);
  return ejs.renderFile(path.join(VIEWS_DIR, 'layout.ejs'), { ...locals, body }, options);
}

/** What the navigation counts beside its links (unread messages), by link: app.ts sets how to count them for a signed-in person. */
export function setNavigationCounts(res: Response, counts: () => Promise<Record<string, number>>): void {
  res.locals.navigationCounts = counts;
}

export async function sendPage(res: Response, status: number, view: string, locals: PageLocals): Promise<void> {
  const counts = res.locals.navigationCounts as (() => Promise<Record<string, number>>) | undefined;
  // Counted only for a page that is shown (a redirect or an API answer sends no query for them), and
  // never for the page saying something went wrong: what failed may be what the counts read.
  const navCounts = counts && status < 500 ? await counts() : {};
  const person = personOf(res);
  // The layout asks the browser's time zone on the person's own pages, never on the sign-in and
  // consent pages in the middle of an app's authorization (their redirect to the app comes first).
  const askTimeZone = Boolean(person && !person.timeZone && typeof res.locals.csrfToken === 'string' && !res.req.originalUrl.startsWith('/interaction/'));
  const html = await renderPage(view, { person, csrfToken: res.locals.csrfToken, navCounts, askTimeZone, ...locals });
  res.status(status).type('html').send(html);
}
