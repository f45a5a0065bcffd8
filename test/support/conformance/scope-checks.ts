/**
 * The checks of scopes_supported, by family: the OpenID scopes by their claims, `launch/patient`
 * by `patient` in the token response, offline and online access by what signing out does to
 * them, and each record scope by what its token may and may not do in the person's record.
 */
import * as oidc from 'openid-client';
import { mainFlow, scopeToken, type ScopeFamily } from './apps';
import { offlineAfterSignOut, onlineEndsAtSignOut } from './flows';
import type { Check } from './walk';
import type { Json, World } from './world';

/** What a person's record scope lets its token do, for the families of scopes_supported. */
export async function recordScopeCheck(w: World, scope: string, sample: (type: string) => Promise<string>): Promise<void> {
  const match = /^patient\/(\*|[A-Za-z]+)\.(rs|cruds|read)$/.exec(scope);
  if (!match) throw new Error(`${scope} is not a record scope this check knows`);
  const [, type = '', permissions = ''] = match;
  const family: ScopeFamily = type === '*' ? (permissions === 'rs' ? 'wild-rs' : 'wild-cruds') : permissions === 'read' ? 'v1' : (permissions as ScopeFamily);
  const { token, granted } = await scopeToken(w, family);
  expect(granted).toContain(scope);
  const record = (await w.person()).record;
  const types = type === '*' ? ['Observation', 'Condition', 'Immunization'] : [type];
  for (const each of types) {
    if (each === 'Patient') {
      expect((await w.fhir(token, 'GET', `Patient/${record}`)).status).toBe(200);
      expect((await w.fhir(token, 'GET', 'Patient')).status).toBe(200);
      const patient = await (await w.fhir(token, 'GET', `Patient/${record}`)).json();
      expect((await w.fhir(token, 'PUT', `Patient/${record}`, patient)).status).toBe(permissions === 'cruds' ? 200 : 403);
      continue;
    }
    const id = await sample(each);
    expect((await w.fhir(token, 'GET', `${each}/${id}`)).status).toBe(200);
    expect((await w.fhir(token, 'GET', `${each}?_id=${id}`)).status).toBe(200);
    const created = await w.fhir(
      token,
      'POST',
      each,
      await (await w.fhir(token, 'GET', `${each}/${id}`)).json().then((body: Json) => ({ ...body, id: undefined, meta: undefined })),
    );
    if (permissions === 'cruds') {
      expect(created.status).toBe(201);
      const made = (await created.json()) as { id: string };
      expect((await w.fhir(token, 'DELETE', `${each}/${made.id}`)).status).toBe(204);
    } else {
      expect(created.status).toBe(403);
    }
  }
}

/** The checks of each scope family of scopes_supported. */
export function scopeCheck(w: World, scope: string, sample: (type: string) => Promise<string>): Check | undefined {
  const main = () => mainFlow(w);
  switch (scope) {
    case 'openid':
      return async () => {
        const { tokens, idToken, app } = await main();
        expect(tokens.id_token).toEqual(expect.any(String));
        expect(idToken?.aud).toBe(app.clientId);
      };
    case 'profile':
      return async () => {
        const { tokens, app } = await main();
        const info = await oidc.fetchUserInfo(app.config, tokens.access_token, oidc.skipSubjectCheck);
        expect(info.name).toBe((await w.person()).person.name);
      };
    case 'email':
      return async () => {
        const { tokens, app } = await main();
        const info = await oidc.fetchUserInfo(app.config, tokens.access_token, oidc.skipSubjectCheck);
        expect(info.email).toBe((await w.person()).person.email);
        expect(info.email_verified).toBe(false);
      };
    case 'fhirUser':
      return async () => {
        const { idToken } = await main();
        const fhirUser = `${w.fhirBase}/Patient/${(await w.person()).record}`;
        expect(idToken?.fhirUser).toBe(fhirUser);
      };
    case 'launch/patient':
      return async () => {
        const { tokens } = await main();
        expect(tokens.patient).toBe((await w.person()).record);
      };
    case 'offline_access':
      return () => offlineAfterSignOut(w);
    case 'online_access':
      return () => onlineEndsAtSignOut(w);
    default:
      return /^patient\/(\*|[A-Za-z]+)\.(rs|cruds|read)$/.test(scope) ? () => recordScopeCheck(w, scope, sample) : undefined;
  }
}
