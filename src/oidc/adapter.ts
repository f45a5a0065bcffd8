/**
 * oidc-provider's storage adapter over PostgreSQL, so sessions, interactions, grants, codes and
 * tokens are shared by every instance. `find` reports `consumed` so code re-use is detected;
 * clients' secrets are stored hashed, and every credential is stored under the SHA-256 of its
 * value, its secret parts sealed under it (stored-credentials.ts), so the table holds nothing
 * that can be presented. Where the route lets one query answer several lookups, route-lookups.ts
 * answers them.
 * https://github.com/panva/node-oidc-provider/blob/main/example/my_adapter.js
 */
import Provider, { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { entryOf, requestEntry, setEntry } from '../http/request-context';
import { credentialKey } from '../security/credential-keys';
import { findUnstorable, isStorableText } from '../security/storable-text';
import { isSelfContained, type AccessTokens } from './access-tokens';
import type { RefreshAudit } from './grants';
import { createRouteLookups } from './route-lookups';
import type { ModelRow, ModelStore, StoredModel } from './store';
import { fromStored, storedKeyOf, toStored } from './stored-credentials';

const currentRoute = () => Provider.ctx?.oidc?.route;

/** Expired device codes are kept this long, so a late poll hears `expired_token` (RFC 8628 §3.5). */
const DEVICE_CODE_RETENTION = 7 * 24 * 3600;

/**
 * A device code presented again within this many seconds of its collection is a poll that raced
 * the collecting one (a job retrying on a timeout, two workers): it is answered `invalid_grant` as
 * if unknown, because oidc-provider would otherwise revoke the grant of a used code and cost the
 * person the approval the app just collected. Presented later, it is a replay, and oidc-provider
 * ends the authorization (RFC 6749 §4.1.2's rule for codes).
 */
const DEVICE_CODE_RACE_WINDOW = 30;

/**
 * A refresh token the token endpoint is rotating. oidc-provider consumes it, then stores its
 * successor: the two are written when the successor is, in one statement that stores it only if
 * this use of the refresh token won (ModelStore.rotate), with the refresh's audit line.
 */
const ROTATION = requestEntry('refresh token being rotated', (): { key: string } | null => null);

/**
 * A sign-in session whose id oidc-provider is renewing (every resume, and a sign-out from one app):
 * it removes the old id, then stores the session under the new one. Other tabs of the same browser
 * look the session up by its uid meanwhile (every interaction page and answer does, and a resume of
 * a tab that answered): between two statements they would find no session and be told to start
 * again, or shown a step they had already answered. The removal is held until the new id is stored,
 * and both are done in one statement (ModelStore.renewSession).
 */
const RENEWED_SESSION = requestEntry('sign-in session id being renewed', (): { key: string } | null => null);

/** Whether `id` is the id oidc-provider is renewing the current request's sign-in session away from. */
function isRenewedSessionId(id: string): boolean {
  const session = Provider.ctx?.oidc?.entities.Session as { oldId?: unknown } | undefined;
  return session?.oldId === id;
}

const labelOf: Readonly<Record<string, string>> = { RefreshToken: 'refresh token', AuthorizationCode: 'authorization code', DeviceCode: 'device code' };

/** What the token endpoint exchanges for tokens, using each up as it does. */
const GRANT_SOURCES: readonly string[] = Object.keys(labelOf);

/** The resources (RFC 8707) the code, device code or refresh token this token request presented was issued for, by model and id. */
const PRESENTED_RESOURCES = requestEntry('resources of the presented code or token', () => new Map<string, unknown>());

/**
 * Why a token request naming `named` may not use a code, device code or refresh token issued for
 * `granted`, or `undefined` when it may. RFC 8707 §2.2 answers such a request `invalid_target`;
 * oidc-provider checks only after it used the code or token up, so the app's corrected retry
 * would find it used, and a used one presented again ends the person's authorization.
 */
function ungrantedResource(model: string, granted: unknown, named: unknown): string | undefined {
  if (named === undefined) return undefined;
  const grantedResources = [granted].flat().filter((resource): resource is string => typeof resource === 'string');
  const namedResources = [named].flat();
  if (namedResources.length === 1 && grantedResources.includes(namedResources[0] as string)) return undefined;
  const what = labelOf[model] ?? 'grant';
  return grantedResources.length
    ? `the resource indicator for this ${what} is ${grantedResources.join(' ')}`
    : `this ${what} was issued for no resource: send no resource indicator`;
}

/** oidc-provider's view of a stored row, found by `presented`: its payload, marked when it was consumed. */
function payloadOf(model: string, row: ModelRow, presented: { id: string } | { userCode: string } | undefined): AdapterPayload | undefined {
  const payload = fromStored(model, row.payload, presented);
  if (!payload) return undefined;
  return { ...(payload as AdapterPayload), ...(row.consumed ? { consumed: true } : {}) };
}

/**
 * @param refreshReuseGrace seconds during which a just-rotated refresh token presented again does
 *   not end the grant: the first such retry (a lost response) is answered, later ones refused.
 * @param hooks.refreshAudit the audit line of a refresh, written by the statement that rotates (grants.ts).
 * @param hooks.devicePolled called when the token endpoint looks up a device code (an app polling);
 *   it may throw an OAuth error (`slow_down`, `access_denied`).
 * @param hooks.selfContained self-contained access tokens (access-tokens.ts): oidc-provider looks
 *   one up by its value to introspect or revoke it, and is answered from the value itself.
 */
export function createAdapterClass(
  store: ModelStore,
  hashClientSecret: (secret: string) => string,
  refreshReuseGrace: number,
  hooks: {
    refreshAudit?: RefreshAudit | undefined;
    devicePolled?: ((deviceCode: string) => Promise<void>) | undefined;
    selfContained?: AccessTokens | undefined;
  } = {},
) {
  const { refreshAudit, devicePolled, selfContained } = hooks;
  const lookups = createRouteLookups<AdapterPayload>(store, refreshReuseGrace);
  return class PostgresAdapter implements Adapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      // PostgreSQL cannot store NUL or broken Unicode; such a parameter is the request's fault.
      if (findUnstorable(payload)) throw new errors.InvalidRequest('a parameter contains characters that are not allowed (NUL or broken Unicode)');
      let given = payload as Record<string, unknown>;
      // Client secrets are kept only as hashes.
      if (this.model === 'Client' && typeof given.client_secret === 'string' && !given.client_secret.startsWith('sha256:')) {
        given = { ...given, client_secret: hashClientSecret(given.client_secret) };
      }
      // An access token issued by a refresh names the refresh token issued with it, so a retry
      // that withdraws that pair (store.retryRotatedRefreshToken) finds both.
      const issuedWith = this.model === 'AccessToken' && currentRoute() === 'token' ? Provider.ctx?.oidc.entities.RefreshToken?.jti : undefined;
      if (issuedWith) given = { ...given, pairedRefreshToken: credentialKey(issuedWith) };
      const stored = toStored(this.model, id, given);
      const row: StoredModel = {
        model: this.model,
        id: stored.key,
        payload: stored.payload,
        grantId: payload.grantId,
        userCode: stored.userCodeKey,
        uid: payload.uid,
        expiresAt: expiresIn ? new Date(Date.now() + (expiresIn + (this.model === 'DeviceCode' ? DEVICE_CODE_RETENTION : 0)) * 1000) : undefined,
      };
      const req = currentRoute() === 'token' ? Provider.ctx?.req : undefined;
      const rotation = req ? entryOf(req, ROTATION) : null;
      if (req && rotation && this.model === 'RefreshToken') {
        setEntry(req, ROTATION, null);
        await this.rotate(rotation.key, row);
        lookups.forget(id);
        return;
      }
      const renewed = this.model === 'Session' && Provider.ctx ? entryOf(Provider.ctx.req, RENEWED_SESSION) : null;
      if (renewed && Provider.ctx) {
        setEntry(Provider.ctx.req, RENEWED_SESSION, null);
        await store.renewSession(row, renewed.key);
        return;
      }
      const written = await store.upsert(row);
      // After the write, so a lookup racing it cannot keep the old metadata.
      if (this.model === 'Client') lookups.forgetClient(id);
      lookups.forget(id);
      // oidc-provider checks that a device code is unused, then approves (or marks a decline on) it: once
      // one approval is written, nothing else is, and the other run fails (its page says where the request stands).
      if (!written) throw new errors.InvalidRequest('this code was approved by someone else at the same moment');
    }

    private async findBy(by: 'id' | 'uid' | 'user_code', value: string): Promise<AdapterPayload | undefined> {
      if (!isStorableText(value)) return undefined;
      const polled = this.model === 'DeviceCode' && by === 'id' && currentRoute() === 'token';
      const grace = this.model === 'RefreshToken' ? refreshReuseGrace : polled ? DEVICE_CODE_RACE_WINDOW : 0;
      if (polled && devicePolled) await devicePolled(value);
      const key = by === 'id' ? storedKeyOf(this.model, value) : by === 'user_code' ? credentialKey(value) : value;
      // oidc-provider checks a device code's expiry itself, to answer expired_token.
      const row = await store.find(this.model, by, key, grace, this.model === 'DeviceCode');
      // A poll that lost the race to collect (see DEVICE_CODE_RACE_WINDOW) finds nothing.
      if (!row || (polled && row.justConsumed)) return undefined;
      const payload = payloadOf(this.model, row, by === 'id' ? { id: value } : by === 'user_code' ? { userCode: value } : undefined);
      // A user code entered again carries on with its request (device-pages.ts): the verification
      // page never hears it is in flight — people entering it at once each start a run of the flow;
      // only an approval (`accountId`) or an error on the code ends it.
      if (payload && by === 'user_code') delete payload.inFlight;
      return payload;
    }

    async find(id: string) {
      if (this.model === 'Client') return lookups.client(id, () => this.findBy('id', id));
      // App tokens are only self-contained; a person's access token is either (access-tokens.ts).
      if (isSelfContained(id)) return this.model === 'ClientCredentials' || this.model === 'AccessToken' ? this.findSelfContained(id) : undefined;
      if (this.model === 'ClientCredentials') return undefined;
      const planned = lookups.find(this.model, id);
      const payload = planned ? await planned.then((row) => (row ? payloadOf(this.model, row, { id }) : undefined)) : await this.findBy('id', id);
      const req = currentRoute() === 'token' && GRANT_SOURCES.includes(this.model) ? Provider.ctx?.req : undefined;
      if (req && payload) entryOf(req, PRESENTED_RESOURCES).set(`${this.model} ${id}`, payload.resource);
      return payload;
    }

    /**
     * A live self-contained token of this model, in the shape oidc-provider stores its opaque ones.
     * A person's token has no audience here, so that userinfo, which refuses a token for another
     * resource, takes it as a stored one was taken: carevault's FHIR API and its userinfo serve
     * the same authorization.
     */
    private async findSelfContained(value: string): Promise<AdapterPayload | undefined> {
      const token = selfContained && (await lookups.selfContained(value, () => selfContained.find(value)));
      if (!token || (token.kind === 'app') !== (this.model === 'ClientCredentials')) return undefined;
      if (token.kind === 'person') lookups.rememberGrant(token.grantId, token.grant);
      const common = { jti: token.jti, kind: this.model, clientId: token.clientId, scope: token.scopes.join(' '), iat: token.iat, exp: token.exp };
      const bound = token.jkt ? { jkt: token.jkt } : {};
      if (token.kind === 'app') return { ...common, aud: token.aud, ...bound };
      return {
        ...common,
        accountId: token.accountId,
        grantId: token.grantId,
        expiresWithSession: false,
        ...(token.recordId ? { extra: { patient: token.recordId } } : {}),
        ...bound,
      };
    }

    findByUid(uid: string) {
      return this.findBy('uid', uid);
    }

    findByUserCode(userCode: string) {
      return this.findBy('user_code', userCode);
    }

    /**
     * Codes and refresh tokens are single-use. oidc-provider checks `consumed` and then consumes,
     * so two concurrent requests could both pass its check; the conditional update here lets
     * exactly one of them through (RFC 6749 §4.1.2, RFC 9700 §4.14.2). An authorization code that
     * lost that race was presented twice, through the browser it travels: like oidc-provider does
     * for a code it finds consumed, the grant and every token issued from it are revoked —
     * whichever request arrived first. A device code travels only between the app and carevault:
     * one that lost the race is a retrying poll, refused without revoking (DEVICE_CODE_RACE_WINDOW).
     * A refresh token presented again within the grace is an app retrying after a lost response:
     * the first retry goes through (its lost pair is withdrawn), later ones are refused. A refresh
     * token at the token endpoint is consumed later, with its successor (ROTATION, `rotate`).
     * A token request naming a resource the code or token was not issued for is refused first,
     * leaving it unused (`ungrantedResource`): oidc-provider has made every other check by now.
     */
    async consume(id: string): Promise<void> {
      const key = storedKeyOf(this.model, id);
      const req = currentRoute() === 'token' ? Provider.ctx?.req : undefined;
      const presented = req ? entryOf(req, PRESENTED_RESOURCES) : undefined;
      if (presented?.has(`${this.model} ${id}`)) {
        const refusal = ungrantedResource(this.model, presented.get(`${this.model} ${id}`), Provider.ctx?.oidc.params?.resource);
        if (refusal) throw new errors.InvalidTarget(refusal);
      }
      if (this.model === 'RefreshToken' && req) {
        setEntry(req, ROTATION, { key });
        return;
      }
      const { won, grantId } = await store.consume(this.model, key);
      if (won) return;
      if (this.model === 'RefreshToken' && refreshReuseGrace > 0 && (await store.retryRotatedRefreshToken(key, refreshReuseGrace))) return;
      if (this.model === 'AuthorizationCode' && grantId) {
        lookups.forget(grantId);
        await store.deleteGrant(grantId);
        const ctx = Provider.ctx;
        ctx?.oidc.provider.emit('grant.revoked', ctx, grantId);
      }
      throw new errors.InvalidGrant(`${labelOf[this.model] ?? 'grant'} already used`);
    }

    /**
     * The rotation of refresh token `key` (see ROTATION): it is consumed and its successor stored in
     * one statement when this use wins; else, as `consume` says, the first retry within the grace
     * withdraws the lost pair (its refresh token, and with it the access token issued alongside)
     * and stores this successor, and anything else is refused.
     */
    private async rotate(key: string, successor: StoredModel): Promise<void> {
      const event = successor.grantId ? await refreshAudit?.eventOf(successor.grantId) : undefined;
      if (await store.rotate(key, [successor], event)) {
        if (event) refreshAudit?.recorded();
        return;
      }
      if (refreshReuseGrace > 0 && (await store.retryRotatedRefreshToken(key, refreshReuseGrace))) {
        await store.upsert(successor);
        return;
      }
      throw new errors.InvalidGrant(`${labelOf.RefreshToken} already used`);
    }

    /**
     * Ends a row. A self-contained token, stored nowhere, is ended by its `jti` (access-tokens.ts);
     * oidc-provider names a person's access token by that id whichever it is, so both are ended.
     * The old id of a sign-in session being renewed goes when the new one is stored (RENEWED_SESSION).
     */
    async destroy(id: string): Promise<void> {
      if (this.model === 'Client') lookups.forgetClient(id);
      if (this.model === 'ClientCredentials' && selfContained) return selfContained.revoke(id);
      if (this.model === 'AccessToken' && selfContained) await selfContained.revoke(id);
      const req = Provider.ctx?.req;
      if (this.model === 'Session' && req && isRenewedSessionId(id)) {
        setEntry(req, RENEWED_SESSION, { key: storedKeyOf(this.model, id) });
        return;
      }
      lookups.forget(id);
      await store.destroy(this.model, storedKeyOf(this.model, id));
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      lookups.forget(grantId);
      await store.revokeByGrantId(this.model, grantId);
    }
  };
}
