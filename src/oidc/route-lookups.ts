/**
 * The storage adapter's lookups that depend on the route oidc-provider is answering: where its
 * order of adapter calls lets one query answer several of them. This is the only code that relies
 * on that order, and test/integration/adapter-call-order.test.ts records it for each route below,
 * so an oidc-provider upgrade that changes it fails there instead of silently costing queries.
 *
 * - `token` (a code exchange, a refresh): oidc-provider reads the authorization code or refresh
 *   token, then the grant it names, then the grant's account (findAccount) and carevault the
 *   authorization the grant carries (grants.ts). One query reads them all
 *   (ModelStore.findWithGrant), and the other lookups are answered from it.
 * - `introspection`, `revocation`: it looks the presented value up in AccessToken,
 *   ClientCredentials and RefreshToken, one after another. One query looks in the two stored
 *   models (ModelStore.findInModels), and each lookup is answered from it; an app's token is
 *   self-contained, and answered from its value (access-tokens.ts).
 * - `token`, `introspection`, `revocation`: it reads the calling client's metadata on every call.
 *   These calls from apps' servers may use a copy up to a few seconds old (client-cache.ts); every
 *   other route reads the database, and refreshes the copy.
 *
 * - any route: a self-contained access token is verified and its liveness read once, though
 *   oidc-provider looks it up in several models; the grant read with it answers its Grant lookup.
 *
 * What was read is kept for the request only (http/request-context.ts); a row written or removed
 * during the request is read again (`forget`). On any other route, `find` plans nothing and the
 * adapter reads as usual.
 */
import Provider from 'oidc-provider';
import { entryOf, requestEntry } from '../http/request-context';
import { credentialKey } from '../security/credential-keys';
import { isStorableText } from '../security/storable-text';
import { createClientCache } from './client-cache';
import { readWithGrant } from './grants';
import type { ModelRow, ModelStore } from './store';
import { storedKeyOf } from './stored-credentials';

/** The stored models a value presented for introspection or revocation may be in; all keyed by the value's SHA-256 (app tokens are self-contained: access-tokens.ts). */
const TOKEN_MODELS: readonly string[] = ['AccessToken', 'RefreshToken'];
const TOKEN_ROUTES: readonly string[] = ['introspection', 'revocation'];
/** What the token endpoint reads before the grant it was issued under. */
const GRANT_BOUND_MODELS: readonly string[] = ['AuthorizationCode', 'RefreshToken'];
/** Where a client's metadata may be a few seconds old. */
const CLIENT_CACHE_ROUTES: readonly string[] = ['token', 'introspection', 'revocation'];

/** What this request read ahead: a presented value's rows in TOKEN_MODELS; a grant read with its code or refresh token (null: none live). */
const READ_AHEAD = requestEntry('the adapter’s lookups read ahead', () => ({
  tokens: new Map<string, Promise<ReadonlyMap<string, ModelRow>>>(),
  grants: new Map<string, ModelRow | null>(),
  selfContained: new Map<string, Promise<unknown>>(),
}));

/** @param refreshReuseGrace seconds within which a used refresh token does not count as consumed (adapter.ts). */
export function createRouteLookups<Client extends object>(store: ModelStore, refreshReuseGrace: number) {
  const clients = createClientCache<Client>();
  const readAheadNow = () => {
    const ctx = Provider.ctx;
    return ctx && entryOf(ctx.req, READ_AHEAD);
  };

  return {
    /** A client's metadata: a copy up to a few seconds old where the route allows it, else what `load` reads. */
    client(id: string, load: () => Promise<Client | undefined>): Promise<Client | undefined> {
      return clients.find(id, load, CLIENT_CACHE_ROUTES.includes(Provider.ctx?.oidc?.route ?? ''));
    },

    /**
     * The live row of `model` with this id — `null` when there is none — when the current route
     * plans its lookup; `undefined` when it does not, and the adapter reads it itself.
     */
    find(model: string, id: string): Promise<ModelRow | null> | undefined {
      const route = Provider.ctx?.oidc?.route ?? '';
      const withGrant = route === 'token' && GRANT_BOUND_MODELS.includes(model);
      const grant = model === 'Grant' && (route === 'token' || readAheadNow()?.grants.has(id) === true);
      const batched = TOKEN_ROUTES.includes(route) && TOKEN_MODELS.includes(model);
      const readAhead = withGrant || grant || batched ? readAheadNow() : undefined;
      if (!readAhead || !isStorableText(id)) return undefined;
      if (withGrant) {
        const req = Provider.ctx?.req;
        return store.findWithGrant(model, storedKeyOf(model, id), model === 'RefreshToken' ? refreshReuseGrace : 0).then((found) => {
          if (!found) return null;
          if (found.grantId) readAhead.grants.set(found.grantId, found.grant ?? null);
          const accountId = found.grant?.payload.accountId;
          if (req && found.grantId && typeof accountId === 'string') {
            const { person, authorization } = found;
            const asPerson = person && {
              id: person.id,
              name: person.name,
              email: person.email,
              emailVerified: person.emailVerified,
              ...(person.timeZone ? { timeZone: person.timeZone } : {}),
            };
            readWithGrant(req, found.grantId, accountId, asPerson, authorization);
          }
          return found.token;
        });
      }
      if (grant) return readAhead.grants.has(id) ? Promise.resolve(readAhead.grants.get(id) ?? null) : undefined;
      let rows = readAhead.tokens.get(id);
      if (!rows) {
        rows = store.findInModels(TOKEN_MODELS, credentialKey(id), refreshReuseGrace);
        readAhead.tokens.set(id, rows);
      }
      return rows.then((found) => found.get(model) ?? null);
    },

    /** A live grant read with something else in this request (a self-contained token's liveness), for its lookup next. */
    rememberGrant(id: string, payload: Record<string, unknown>): void {
      readAheadNow()?.grants.set(id, { payload, consumed: false });
    },

    /** What this request already found a self-contained token to be, so the models oidc-provider looks it up in share one read. */
    selfContained<T>(value: string, find: () => Promise<T>): Promise<T> {
      const readAhead = readAheadNow();
      const known = readAhead?.selfContained.get(value) as Promise<T> | undefined;
      if (known) return known;
      const found = find();
      readAhead?.selfContained.set(value, found);
      return found;
    },

    /** A row written or removed in this request (by its id, or a grant's id) is read again if looked up again. */
    forget(id: string): void {
      const readAhead = readAheadNow();
      readAhead?.tokens.delete(id);
      readAhead?.grants.delete(id);
    },

    forgetClient(id: string): void {
      clients.forget(id);
    },
  };
}
