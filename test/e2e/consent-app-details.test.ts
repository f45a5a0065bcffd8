/**
 * The consent page shows what the app registered about itself (RFC 7591 §2: `logo_uri`,
 * `policy_uri`, `tos_uri`), the logo allowed by that page's CSP only; and error pages — carevault's
 * own and oidc-provider's — end with what to do next.
 */
import { Browser, textOf } from '../support/browser';
import { CALLBACK, WEIGHT_TRACKER, newPerson, registerTestApp, startAuthorization } from '../support/app';
import { createAccountThrough } from '../support/forms';
import { startTestServer, type TestServer } from '../support/server';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

const DETAILS = {
  logo_uri: 'https://cdn.weight.example/logo.png',
  policy_uri: 'https://weight.example/privacy',
  tos_uri: 'https://weight.example/terms',
};

/** Registers a new person in `browser` from the app's authorization URL; returns the consent page. */
async function consentPage(browser: Browser, url: URL) {
  const person = newPerson('Lee Details');
  let page = await browser.visit(url.toString());
  page = await browser.visit(page.html.match(/href="(\/interaction\/[^"]+\/register)"/)?.[1] ?? '');
  page = await createAccountThrough(browser, page, person);
  expect(page.html).toContain('>Allow</button>');
  return page;
}

test('the consent page shows the app’s logo, privacy policy and terms; the logo’s origin is allowed on that page only', async () => {
  const app = await registerTestApp(server, { ...WEIGHT_TRACKER, ...DETAILS });
  const page = await consentPage(new Browser(server.issuer), (await startAuthorization(app)).url);
  expect(page.html).toContain(`<img class="app-logo" src="${DETAILS.logo_uri}" alt=""`);
  expect(page.html).toMatch(new RegExp(`<a href="${DETAILS.policy_uri}"[^>]*>privacy policy</a>`));
  expect(page.html).toMatch(new RegExp(`<a href="${DETAILS.tos_uri}"[^>]*>terms of use</a>`));
  expect(textOf(page.html)).toContain("Before you decide, read Weight Tracker's privacy policy and terms of use (they open in a new tab).");
  const imgSrc = (policy: string | null) =>
    /(?:^|;)\s*img-src ([^;]*)/
      .exec(policy ?? '')?.[1]
      ?.trim()
      .split(/\s+/);
  expect(imgSrc(page.headers.get('content-security-policy'))).toEqual(["'self'", 'data:', 'https://cdn.weight.example']);
  // Every other page keeps the site-wide policy.
  const home = await fetch(`${server.issuer}/`);
  expect(imgSrc(home.headers.get('content-security-policy'))).toEqual(["'self'", 'data:']);
}, 60_000);

test('an app that registered none of them shows no logo and says so', async () => {
  const app = await registerTestApp(server, { ...WEIGHT_TRACKER, client_name: 'Plain App', redirect_uris: [CALLBACK] });
  const page = await consentPage(new Browser(server.issuer), (await startAuthorization(app)).url);
  expect(page.html).not.toContain('app-logo');
  expect(textOf(page.html)).toContain('Plain App did not register a privacy policy or terms of use with carevault.');
}, 60_000);

test('error pages say what to do next', async () => {
  const browser = new Browser(server.issuer);
  const missing = await browser.visit('/no/such/page');
  expect(missing.status).toBe(404);
  expect(textOf(missing.html)).toContain('What to do next Check the address, or start again from your home page.');

  // An unknown app: oidc-provider's error page.
  const unknown = await browser.visit(
    '/authorize?client_id=nobody&response_type=code&scope=openid&redirect_uri=https%3A%2F%2Fx.example%2Fcb&code_challenge=abcdefghijabcdefghijabcdefghijabcdefghijabc&code_challenge_method=S256',
  );
  expect(unknown.status).toBe(400);
  expect(textOf(unknown.html)).toContain(
    'What to do next Go back to the app and let its makers know: it needs to be registered with carevault. Nothing was shared.',
  );

  // A form without its CSRF token.
  const forged = await fetch(`${server.issuer}/records`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', cookie: browser.cookiesFor('/records') },
    body: 'name=x',
  });
  const forgedText = textOf(await forged.text());
  expect(forgedText).toContain('What to do next');
});
