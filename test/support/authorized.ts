/**
 * A person (registered through the pages, browser kept) who has authorized an app to read and
 * write their records, offline: what fault and abuse tests need to send real traffic.
 */
import { authorizeInBrowser, exchangeCode, newPerson, registerTestApp, startAuthorization, CALLBACK, type TestApp } from './app';
import { Browser } from './browser';
import { ownRecordOf, type TestServer } from './server';

export const RECORD_KEEPER = {
  client_name: 'Record Keeper',
  redirect_uris: [CALLBACK],
  token_endpoint_auth_method: 'client_secret_basic',
  grant_types: ['authorization_code', 'refresh_token'],
  rules: [
    { scope: 'patient/Observation.cruds', required: true, reason: 'Keep your readings' },
    { scope: 'offline_access', required: false, reason: 'Sync while you are away' },
  ],
};

export type Authorized = {
  app: TestApp;
  browser: Browser;
  person: ReturnType<typeof newPerson>;
  record: string;
  accessToken: string;
  refreshToken: string;
};

export async function authorizedApp(server: TestServer, name = 'Robin Steady', document: Record<string, unknown> = RECORD_KEEPER): Promise<Authorized> {
  const app = await registerTestApp(server, document);
  const person = newPerson(name);
  const browser = new Browser(server.issuer);
  const authorization = await startAuthorization(app, { scope: 'openid patient/Observation.cruds offline_access' });
  const back = await authorizeInBrowser(browser, authorization.url, person, { register: true });
  const tokens = await exchangeCode(app, authorization, back.location ?? '');
  return {
    app,
    browser,
    person,
    record: await ownRecordOf(server, person.email),
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token ?? '',
  };
}

export function weight(value: number): Record<string, unknown> {
  return { resourceType: 'Observation', status: 'final', code: { text: 'Body weight' }, valueQuantity: { value, unit: 'kg' } };
}
