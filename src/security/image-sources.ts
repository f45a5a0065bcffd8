/**
 * Lets one page show an image from another origin (an app's registered logo on the consent page)
 * without widening the site-wide CSP (security/headers.ts): the page's own `img-src` gains exactly
 * that origin. https://www.w3.org/TR/CSP3/#directive-img-src
 */
import type { Response } from 'express';

/** Adds `url`'s origin to this response's `img-src`; returns false (show no image) when it cannot. */
export function allowImageFrom(res: Response, url: string | undefined): boolean {
  if (!url || !URL.canParse(url)) return false;
  const { origin, protocol } = new URL(url);
  if (protocol !== 'https:' && protocol !== 'http:') return false;
  const policy = res.getHeader('Content-Security-Policy');
  if (typeof policy !== 'string') return false;
  // An origin is scheme://host[:port]; nothing in it can break out of the directive.
  res.setHeader(
    'Content-Security-Policy',
    policy.replace(/(^|;)\s*img-src ([^;]*)/, (_match, start: string, sources: string) => `${start}img-src ${sources} ${origin}`),
  );
  return true;
}
