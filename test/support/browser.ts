/**
 * A person's browser at the HTTP level, for fast page tests: a cookie jar that honours cookie
 * paths, manual redirects, and form submission the way the pages' HTML says. (Tests that need
 * real rendering use Chromium; see chromium.ts.)
 */
type Cookie = { name: string; value: string; path: string };

export type PageResponse = { status: number; url: string; html: string; location: string | undefined; headers: Headers };

export class Browser {
  private cookies: Cookie[] = [];

  /** `headers` go with every request (e.g. `X-Forwarded-For` to play a client address behind a trusted proxy). */
  constructor(
    private readonly origin: string,
    private readonly headers: Record<string, string> = {},
  ) {}

  private cookieHeader(url: URL): string {
    return this.cookies
      .filter((cookie) => url.pathname === cookie.path || url.pathname.startsWith(cookie.path.endsWith('/') ? cookie.path : `${cookie.path}/`))
      .map((cookie) => `${cookie.name}=${cookie.value}`)
      .join('; ');
  }

  private remember(url: URL, headers: Headers): void {
    for (const line of headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';').map((part) => part.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const pathAttr = attributes.find((attr) => attr.toLowerCase().startsWith('path='));
      const cookiePath = pathAttr ? pathAttr.slice(5) : url.pathname.replace(/\/[^/]*$/, '') || '/';
      const expired = attributes.some((attr) => /^expires=thu, 01 jan 1970/i.test(attr)) || attributes.some((attr) => /^max-age=0$/i.test(attr));
      this.cookies = this.cookies.filter((cookie) => !(cookie.name === name && cookie.path === cookiePath));
      if (!expired && value !== '') this.cookies.push({ name, value, path: cookiePath });
    }
  }

  /** The Cookie header this browser would send to `target` (to replay it against another instance). */
  cookiesFor(target: string): string {
    return this.cookieHeader(new URL(target, this.origin));
  }

  /** One request, no redirect following. */
  async request(target: string, init: { method?: string; form?: Record<string, string | string[]> } = {}): Promise<PageResponse> {
    const url = new URL(target, this.origin);
    const headers = new Headers({ accept: 'text/html', ...this.headers });
    const cookie = this.cookieHeader(url);
    if (cookie) headers.set('cookie', cookie);
    let body: string | undefined;
    if (init.form) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(init.form)) {
        for (const item of Array.isArray(value) ? value : [value]) params.append(key, item);
      }
      body = params.toString();
      headers.set('content-type', 'application/x-www-form-urlencoded');
    }
    const res = await fetch(url, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    this.remember(url, res.headers);
    const location = res.headers.get('location') ?? undefined;
    return {
      status: res.status,
      url: url.toString(),
      html: await res.text(),
      location: location ? new URL(location, url).toString() : undefined,
      headers: res.headers,
    };
  }

  /** Follows redirects within this origin; stops at a redirect elsewhere (e.g. the app's callback). */
  async visit(target: string, init: { method?: string; form?: Record<string, string | string[]> } = {}): Promise<PageResponse> {
    let response = await this.request(target, init);
    for (let hops = 0; response.location && hops < 20; hops += 1) {
      if (!response.location.startsWith(this.origin)) return response;
      response = await this.request(response.location);
    }
    return response;
  }

  /**
   * Submits the page's form (the first, or the one whose action contains `actionContains`) as a
   * browser would: hidden inputs and checked boxes, with `fields` typed over them and the boxes
   * whose values are in `uncheck` unticked.
   */
  async submit(
    page: PageResponse,
    fields: Record<string, string | string[]>,
    actionContains = '',
    options: { uncheck?: string[]; check?: string[]; follow?: boolean } = {},
  ): Promise<PageResponse> {
    const forms = [...page.html.matchAll(/<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/g)];
    const form = forms.find((match) => (match[1] ?? '').includes(actionContains));
    if (!form) throw new Error(`no form with action containing "${actionContains}" on ${page.url}`);
    const values: Record<string, string[]> = {};
    for (const [tag] of (form[2] ?? '').matchAll(/<input\b[^>]*>/g)) {
      const attr = (name: string) => new RegExp(`\\b${name}="([^"]*)"`).exec(tag)?.[1];
      const type = attr('type') ?? 'text';
      const name = attr('name');
      const value = decode(attr('value') ?? 'on');
      if (!name || /\bdisabled\b/.test(tag)) continue;
      const ticked = /\bchecked\b/.test(tag);
      const include =
        type === 'hidden' || ((type === 'checkbox' || type === 'radio') && ((ticked && !options.uncheck?.includes(value)) || options.check?.includes(value)));
      if (include) (values[name] ??= []).push(value);
    }
    const target = new URL(decode(form[1] ?? ''), page.url).toString();
    const init = { form: { ...values, ...fields } };
    return options.follow === false ? this.request(target, init) : this.visit(target, init);
  }
}

function decode(text: string): string {
  return text.replace(/&amp;/g, '&').replace(/&#34;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
}

/** Text of the page with tags removed, for asserting what a person reads. */
export function textOf(html: string): string {
  return decode(html.replace(/<[^>]+>/g, ' '))
    .replace(/\s+/g, ' ')
    .trim();
}
