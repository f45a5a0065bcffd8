/**
 * Authorizations: which app may reach which record under which rules, online or offline. Each is
 * carried by one oidc-provider grant; removing it deletes the grant and its tokens in the same
 * transaction that records the removal.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { AuditLog } from '../audit/service';
import { Forbidden, NotFound } from '../http/errors';
import { createModelStore } from '../oidc/store';
import { isIdentityScope, splitScopes } from '../rules/scopes';
import { createAuthorizationStore, type Access, type ConnectedAppRow } from './store';

/** The app and the person, as the audit log names them. */
type App = { clientId: string; clientName: string };
type Who = { id: string; name: string };

export type ConsentRecord = App & {
  grantId: string;
  person: Who;
  recordId: string;
  /** Everything granted: identity scopes and rules. */
  scope: string[];
  declined: string[];
};

/** How a grant ended when oidc-provider ended it. */
export type GrantEnd = 'app' | 'security' | 'signed_out';

export function accessOf(scope: readonly string[]): Access {
  if (scope.includes('offline_access')) return 'offline';
  if (scope.includes('online_access')) return 'online';
  return 'none';
}

export function createAuthorizationService(knex: Knex, audit: AuditLog) {
  const store = createAuthorizationStore(knex);
  const models = createModelStore(knex);
  const appName = (row: ConnectedAppRow) => ({ client_name: row.client_name ?? row.client_id });

  return {
    /** The live authorization of an app for a record. */
    find(clientId: string, recordId: string) {
      return store.findLive(clientId, recordId);
    },

    /** The record a grant reaches, or `undefined` when the grant carries no live authorization. */
    async recordOfGrant(grantId: string): Promise<string | undefined> {
      return (await store.findByGrant(grantId))?.record_id;
    },

    /** The live authorizations of an app for any of these records, most recently changed first. */
    findForRecords(clientId: string, recordIds: string[]) {
      return store.findLiveForRecords(clientId, recordIds);
    },

    findByGrantWithApp(grantId: string) {
      return store.findLiveWithApp({ grant_id: grantId });
    },

    setGrant(id: string, grantId: string | null) {
      return store.setGrant(id, grantId);
    },

    /** Records what the person approved on the consent page, creating or updating the authorization. */
    async recordConsent(consent: ConsentRecord): Promise<void> {
      const rules = consent.scope.filter((scope) => !isIdentityScope(scope));
      await store.transaction(async (trx) => {
        const existing = await store.lockLive(trx, consent.clientId, consent.recordId);
        const fields = {
          grant_id: consent.grantId,
          person_id: consent.person.id,
          scope: consent.scope.join(' '),
          declined: consent.declined.join(' '),
          access: accessOf(consent.scope),
        };
        if (existing) await store.update(trx, existing.id, fields);
        else await store.insert(trx, { id: randomUUID(), client_id: consent.clientId, record_id: consent.recordId, ...fields });
        await audit.append(
          {
            recordId: consent.recordId,
            kind: 'authorization.granted',
            clientId: consent.clientId,
            personId: consent.person.id,
            details: { client_name: consent.clientName, person_name: consent.person.name, rules: rules.join(' '), access: fields.access },
          },
          trx,
        );
      });
    },

    async recordDenial(app: App, recordId: string, person: Who): Promise<void> {
      await audit.append({
        recordId,
        kind: 'authorization.denied',
        clientId: app.clientId,
        personId: person.id,
        details: { client_name: app.clientName, person_name: person.name },
      });
    },

    /**
     * Remove access: the person (a custodian of the record) ends an authorization; its grant and
     * every token from it are deleted in the same transaction.
     */
    async remove(authorizationId: string, person: Who, custodianOf: (recordId: string) => Promise<boolean>): Promise<void> {
      const row = await store.findLiveWithApp({ id: authorizationId });
      if (!row) throw new NotFound('That app no longer has access to this record.');
      if (!(await custodianOf(row.record_id))) throw new Forbidden('You do not look after this record.');
      await store.transaction(async (trx) => {
        const ended = await store.revoke(trx, row.id, 'person');
        if (!ended) return;
        if (row.grant_id) await models.deleteGrant(trx, row.grant_id);
        await audit.append(
          { recordId: row.record_id, kind: 'authorization.removed', clientId: row.client_id, personId: person.id, details: { ...appName(row), by: 'person', person_name: person.name } },
          trx,
        );
      });
    },

    /**
     * oidc-provider ended a grant: the app revoked its refresh token, a code or refresh token was
     * replayed, or the person signed out. Signing out ends only the grant of an online
     * authorization (the app may reach the record again when the person is back); the others end
     * the authorization.
     */
    async grantEnded(grantId: string, how: GrantEnd): Promise<void> {
      const row = await store.findLiveWithApp({ grant_id: grantId });
      if (!row) return;
      if (how === 'signed_out' && row.access !== 'offline') {
        await store.setGrant(row.id, null);
        return;
      }
      await store.transaction(async (trx) => {
        const ended = await store.revoke(trx, row.id, how);
        if (!ended) return;
        await models.deleteGrant(trx, grantId);
        await audit.append({ recordId: row.record_id, kind: 'authorization.removed', clientId: row.client_id, details: { ...appName(row), by: how } }, trx);
      });
    },

    /** An app received tokens under a grant (authorization code, refresh or device code). */
    async tokensIssued(grantId: string, refreshed: boolean): Promise<string | undefined> {
      const row = await store.findLiveWithApp({ grant_id: grantId });
      if (!row) return undefined;
      await store.touch(row.id);
      await audit.append({
        recordId: row.record_id,
        kind: refreshed ? 'token.refreshed' : 'token.issued',
        clientId: row.client_id,
        details: appName(row),
      });
      return row.record_id;
    },

    /** Notes that an app used its authorization (shown as "last used", to the minute). */
    touch(authorizationId: string): Promise<void> {
      return store.touch(authorizationId);
    },

    /** The apps that can reach each of these records, newest first. */
    connectedApps(recordIds: string[]) {
      return store.connectedApps(recordIds);
    },
  };
}

export type AuthorizationService = ReturnType<typeof createAuthorizationService>;

/** The rules in an authorization's scope (without identity scopes). */
export function rulesIn(scope: string): string[] {
  return splitScopes(scope).filter((item) => !isIdentityScope(item));
}

/** What the OpenID core needs to bind grants to records (see oidc/grants.ts). */
export function authorizationHooks(accounts: { recordsOf(personId: string): Promise<{ id: string }[]> }, authorizations: AuthorizationService) {
  return {
    recordsOf: (personId: string) => accounts.recordsOf(personId),
    find: (clientId: string, recordId: string) => authorizations.find(clientId, recordId),
    setGrant: (id: string, grantId: string) => authorizations.setGrant(id, grantId),
    recordOfGrant: (grantId: string) => authorizations.recordOfGrant(grantId),
    grantEnded: (grantId: string, how: GrantEnd) => authorizations.grantEnded(grantId, how),
    tokensIssued: (grantId: string, refreshed: boolean) => authorizations.tokensIssued(grantId, refreshed),
  };
}
