/**
 * Authorizations: which app may reach which record under which rules, online or offline. Each is
 * carried by one oidc-provider grant. A consent, a removal or an ending writes the authorization,
 * the grant and its tokens, and the audit event in one transaction; what the app holds is always
 * exactly what the person last approved.
 */
import { randomUUID } from 'node:crypto';
import type { Person } from '../accounts/person';
import type { AppNames } from '../apps/names';
import type { AuditLog } from '../audit/service';
import type { Database } from '../db';
import { Invalid, NotAllowed, NotFound } from '../errors';
import { isUuid } from '../ids';
import type { PendingInteraction } from '../interactions/pending';
import { allows, levelGrants, type AccessLevel } from '../records/access';
import type { Rule } from '../rules/app-rules';
import { ACCESS_SCOPES, accessOf, isRuleScope, recordRules, splitScopes, type Access } from '../rules/scopes';
import type { RecordEvent } from '../audit/store';
import { createAuthorizationStore, type AuthorizationRow } from './store';

/** The audit line of tokens issued under an authorization (a code exchange or a refresh). */
function tokensEvent(authorization: Pick<AuthorizationRow, 'record_id' | 'client_id'>, issued: { refreshed: boolean }): RecordEvent {
  return { recordId: authorization.record_id, kind: issued.refreshed ? 'token.refreshed' : 'token.issued', clientId: authorization.client_id };
}

/** What the OpenID core does to a grant's stored codes and tokens (oidc/storage.ts). */
export type GrantTokens = {
  /** Deletes a grant and every code and token issued under it. */
  deleteGrant(grantId: string): Promise<void>;
  /** Deletes the access or refresh tokens of a grant that carry any of `scopes`. */
  revokeTokensCarrying(grantId: string, model: 'AccessToken' | 'RefreshToken', scopes: readonly string[]): Promise<void>;
  /** Takes scopes out of a grant as declined: later tokens from it lack them. */
  withdrawFromGrant(grantId: string, scopes: readonly string[]): Promise<void>;
};

/** What the person is asked to confirm before removing an app's access, and what they read after. */
export type AuthorizationSummary = {
  id: string;
  recordId: string;
  clientId: string;
  name: string;
  rules: string[];
  access: Access;
  /** This authorization has not ended. */
  live: boolean;
  /** The app can reach the record now, under this authorization or a later one. */
  reachesRecord: boolean;
};

/** What a person turned off in an app's authorization. */
export type TrimOutcome = { name: string; scope: string };

/** How oidc-provider ended a grant: the app revoked it, or an old code or token was used again. */
export type GrantEnd = 'app' | 'security';

/** An app that can reach a record, for the connected-apps page. */
export type ConnectedApp = {
  id: string;
  recordId: string;
  clientId: string;
  name: string;
  /** Granted record rules; `required` ones cannot be turned off on their own. */
  rules: { scope: string; required: boolean }[];
  access: Access;
  /** Whether offline access, when held, is a required rule of the app. */
  offlineRequired: boolean;
  authorizedAt: Date;
  lastUsedAt: Date | undefined;
  /** The person who authorized it (on a shared record, not always the one reading). */
  authorizedBy: { id: string; name: string };
};

export function createAuthorizationService(deps: {
  db: Database;
  audit: AuditLog;
  appNames: AppNames;
  grants: GrantTokens;
  /** The level a person holds on a record now (records/service.ts `accessOf`). */
  accessOf(personId: string, recordId: string): Promise<AccessLevel | undefined>;
  /** The rules an app registered, to tell required from optional. */
  appRules(clientId: string): Promise<Rule[]>;
}) {
  const { db, audit, appNames, grants } = deps;
  const store = createAuthorizationStore(db);

  /**
   * The one rule for what the app holds when rules are withdrawn, after a new consent or a trim on
   * `/apps`: access tokens carrying a withdrawn record or identity scope are deleted (the app
   * refreshes and gets what the grant still holds); refresh tokens carrying withdrawn offline or
   * online access are deleted (the app can no longer renew); the rest keeps working.
   */
  const withdrawTokens = async (grantId: string, withdrawn: readonly string[]) => {
    const isAccess = (scope: string) => (ACCESS_SCOPES as readonly string[]).includes(scope);
    await grants.revokeTokensCarrying(
      grantId,
      'AccessToken',
      withdrawn.filter((scope) => !isAccess(scope)),
    );
    await grants.revokeTokensCarrying(grantId, 'RefreshToken', withdrawn.filter(isAccess));
  };

  /** The scopes of each app's required rules. */
  const requiredRules = async (clientIds: readonly string[]): Promise<ReadonlyMap<string, ReadonlySet<string>>> =>
    new Map(
      await Promise.all(
        clientIds.map(async (clientId) => {
          const required = (await deps.appRules(clientId)).filter((rule) => rule.required);
          return [clientId, new Set(required.map((rule) => rule.scope))] as const;
        }),
      ),
    );

  /**
   * An authorization (live or ended) the person may change: on a record they share or look after
   * (custodian, Full), any; on one shared with them at a lower level, their own. NotFound for
   * anything else.
   */
  const heldBy = async (authorizationId: string, person: Person): Promise<AuthorizationRow> => {
    const row = isUuid(authorizationId) ? await store.findAnyById(authorizationId) : undefined;
    const level = row ? await deps.accessOf(person.id, row.record_id) : undefined;
    if (!row || !level || !(allows(level, 'share') || row.person_id === person.id)) throw new NotFound('That app no longer has access to this record.');
    return row;
  };

  /** Ends a live authorization, its grant and tokens, with the audit event, in one transaction. */
  const end = (row: AuthorizationRow, by: string, person?: Person) =>
    db.transaction(async () => {
      if (!(await store.revoke(row.id, by))) return;
      if (row.grant_id) await grants.deleteGrant(row.grant_id);
      await audit.append({
        recordId: row.record_id,
        kind: 'authorization.removed',
        clientId: row.client_id,
        ...(person ? { personId: person.id } : {}),
        details: { by, ...(person ? { person_name: person.name } : {}) },
      });
    });

  return {
    /** The live authorization a person made for an app and a record. */
    find(clientId: string, recordId: string, personId: string) {
      return store.findLive(clientId, recordId, personId);
    },

    /** The live authorization with this id. */
    findById(id: string) {
      return store.findById(id);
    },

    /** The live authorizations a person made for an app, for any of these records, most recently changed first. */
    findForRecords(clientId: string, recordIds: readonly string[], personId: string) {
      return store.findLiveForRecords(clientId, recordIds, personId);
    },

    /** The live authorization a grant carries. */
    findByGrant(grantId: string) {
      return store.findByGrant(grantId);
    },

    setGrant(id: string, grantId: string) {
      return store.setGrant(id, grantId);
    },

    /**
     * The person allowed the app to reach `recordId` with the `granted` rules (and declined the
     * others). In one transaction, serialized per app and record so racing consents converge on one
     * authorization and one grant: the grant is saved (rewritten when the app already has one), the
     * authorization written, every token carrying a rule the person no longer approves deleted, the
     * consent audited, and the interaction answered.
     * @returns where the browser goes on (back to the app with a code).
     * @throws AlreadyAnswered when this interaction was answered by another submission.
     */
    async allow(
      pending: PendingInteraction,
      person: Person,
      decision: { recordId: string; granted: readonly string[]; declined: readonly string[] },
    ): Promise<string> {
      const { clientId } = pending;
      const { recordId } = decision;
      return db.transaction(async () => {
        // The page never offers more, but what arrives is checked too, under the record's lock that
        // ending or changing a share takes: a token never exceeds the level the person holds.
        await db.lock(`record:${recordId}`);
        const level = await deps.accessOf(person.id, recordId);
        if (!level) throw new NotFound('There is no such record among yours.');
        const beyond = decision.granted.filter((scope) => !levelGrants(level, scope));
        if (beyond.length) throw new NotAllowed(`You have View only access to this record, so you cannot allow an app to change it (${beyond.join(', ')}).`);
        await store.lockAppAndRecord(clientId, recordId);
        const existing = await store.findLive(clientId, recordId, person.id);
        const grantId = await pending.saveGrant({ existingGrantId: existing?.grant_id, granted: decision.granted, declined: decision.declined });
        const scope = [...new Set([...pending.identityScopes, ...decision.granted])];
        const fields = {
          grant_id: grantId,
          person_id: person.id,
          scope: scope.join(' '),
          declined: decision.declined.join(' '),
          access: accessOf(scope),
          session_uid: pending.sessionUid ?? null,
        };
        if (existing) {
          if (existing.grant_id && existing.grant_id !== grantId) {
            await grants.deleteGrant(existing.grant_id);
          } else {
            await withdrawTokens(
              grantId,
              splitScopes(existing.scope).filter((item) => !scope.includes(item)),
            );
          }
          await store.update(existing.id, fields);
        } else {
          await store.insert({ id: randomUUID(), client_id: clientId, record_id: recordId, ...fields });
        }
        await audit.append({
          recordId,
          kind: 'authorization.granted',
          clientId,
          personId: person.id,
          details: { person_name: person.name, rules: recordRules(fields.scope).join(' '), access: fields.access },
        });
        return pending.finish({ consent: { grantId, recordId } });
      });
    },

    /**
     * The person denied the app's request. It is audited on the record they had chosen, or, with
     * none chosen, on each of `recordIds` the app can already reach: there the refusal is of a new
     * request, and the earlier access stays (`earlier_access`), which the history says.
     */
    async deny(pending: PendingInteraction, person: Person, recordIds: readonly string[]): Promise<string> {
      return db.transaction(async () => {
        const earlier = new Set((await store.findLiveForRecords(pending.clientId, recordIds, person.id)).map((row) => row.record_id));
        const audited = recordIds.length === 1 ? recordIds : recordIds.filter((id) => earlier.has(id));
        for (const recordId of audited) {
          await audit.append({
            recordId,
            kind: 'authorization.denied',
            clientId: pending.clientId,
            personId: person.id,
            details: { person_name: person.name, ...(earlier.has(recordId) ? { earlier_access: true } : {}) },
          });
        }
        return pending.finish({ denied: 'The person denied access.', ...(recordIds.length === 1 ? { recordId: recordIds[0] } : {}) });
      });
    },

    /**
     * An authorization of a record the person holds, live or ended, as the confirmation page and
     * the page after a removal describe it.
     * @throws NotFound when there is no such authorization or the person does not hold its record.
     */
    async summary(authorizationId: string, person: Person): Promise<AuthorizationSummary> {
      const row = await heldBy(authorizationId, person);
      return {
        id: row.id,
        recordId: row.record_id,
        clientId: row.client_id,
        name: await appNames.name(row.client_id),
        rules: recordRules(row.scope),
        access: row.access,
        live: row.revoked_at === null,
        reachesRecord: row.revoked_at === null || (await store.findLive(row.client_id, row.record_id, row.person_id)) !== undefined,
      };
    },

    /**
     * Remove access: the person (a custodian of the record) ends an authorization; its grant and
     * every token from it are deleted in the same transaction. Serialized with consents and trims
     * of the same app and record; removing what already ended changes nothing.
     */
    async remove(authorizationId: string, person: Person): Promise<void> {
      const row = await heldBy(authorizationId, person);
      await db.transaction(async () => {
        await store.lockAppAndRecord(row.client_id, row.record_id);
        const current = await store.findById(row.id);
        if (current) await end(current, 'person', person);
      });
    },

    /**
     * Turns off one optional rule (or offline access) of an authorization without ending it, as a
     * new consent withdrawing it would: the grant no longer holds it, the tokens carrying it are
     * withdrawn by the same rule (`withdrawTokens`), the authorization is rewritten and the change
     * audited, in one transaction serialized with consents, removals and other trims of the same
     * app and record. Turning off what is already off changes nothing.
     * @throws NotFound when the authorization is not live or not the person's to change.
     * @throws Invalid when the rule is not one the authorization holds, or is required.
     */
    async trim(authorizationId: string, scope: string, person: Person): Promise<TrimOutcome> {
      const row = await heldBy(authorizationId, person);
      if (row.revoked_at) throw new NotFound('That app no longer has access to this record.');
      const name = await appNames.name(row.client_id);
      const rules = await deps.appRules(row.client_id);
      if (!isRuleScope(scope) || !(splitScopes(row.scope).includes(scope) || splitScopes(row.declined).includes(scope))) {
        throw new Invalid(`${name} has no such permission to turn off.`);
      }
      if (rules.some((rule) => rule.scope === scope && rule.required)) {
        throw new Invalid(`${name} needs this to work at all, so it cannot be turned off on its own. To stop it, remove ${name}'s access.`);
      }
      return db.transaction(async () => {
        await store.lockAppAndRecord(row.client_id, row.record_id);
        const current = await store.findById(row.id);
        if (!current) throw new NotFound('That app no longer has access to this record.');
        const granted = splitScopes(current.scope);
        if (!granted.includes(scope)) return { name, scope };
        const kept = granted.filter((item) => item !== scope);
        if (current.grant_id) {
          await grants.withdrawFromGrant(current.grant_id, [scope]);
          await withdrawTokens(current.grant_id, [scope]);
        }
        await store.update(current.id, {
          scope: kept.join(' '),
          declined: [...new Set([...splitScopes(current.declined), scope])].join(' '),
          access: accessOf(kept),
        });
        await audit.append({
          recordId: current.record_id,
          kind: 'authorization.trimmed',
          clientId: current.client_id,
          personId: person.id,
          details: { person_name: person.name, rule: scope, access: accessOf(kept) },
        });
        return { name, scope };
      });
    },

    /**
     * A person's access to a record ended (sharing stopped, they left, it expired): every
     * authorization they made for that record ends with its grant and tokens, each audited, in the
     * caller's transaction. Others' authorizations of the record stay.
     */
    async accessEnded(personId: string, recordId: string): Promise<number> {
      let ended = 0;
      for (const row of await store.liveByPersonForRecord(personId, recordId)) {
        await store.lockAppAndRecord(row.client_id, row.record_id);
        const current = await store.findById(row.id);
        if (current && current.person_id === personId) {
          await end(current, 'access-ended');
          ended += 1;
        }
      }
      return ended;
    },

    /**
     * A person's level on a record was lowered: the rules their authorizations for that record hold
     * beyond the new level are withdrawn from the grants, the tokens carrying them deleted by the
     * one token rule (`withdrawTokens`), and each withdrawal audited, in the caller's transaction.
     */
    async accessLowered(personId: string, recordId: string, level: AccessLevel): Promise<void> {
      for (const row of await store.liveByPersonForRecord(personId, recordId)) {
        await store.lockAppAndRecord(row.client_id, row.record_id);
        const current = await store.findById(row.id);
        if (!current || current.person_id !== personId) continue;
        const granted = splitScopes(current.scope);
        const withdrawn = granted.filter((scope) => !levelGrants(level, scope));
        if (!withdrawn.length) continue;
        const kept = granted.filter((scope) => levelGrants(level, scope));
        if (current.grant_id) {
          await grants.withdrawFromGrant(current.grant_id, withdrawn);
          await withdrawTokens(current.grant_id, withdrawn);
        }
        await store.update(current.id, {
          scope: kept.join(' '),
          declined: [...new Set([...splitScopes(current.declined), ...withdrawn])].join(' '),
          access: accessOf(kept),
        });
        for (const rule of withdrawn) {
          await audit.append({
            recordId,
            kind: 'authorization.trimmed',
            clientId: current.client_id,
            details: { by: 'access-lowered', rule, access: accessOf(kept) },
          });
        }
      }
    },

    /**
     * oidc-provider ended a grant: the app revoked its refresh token, or a code or refresh token
     * was used again. The authorization ends with it.
     */
    async grantEnded(grantId: string, how: GrantEnd): Promise<void> {
      const row = await store.findByGrant(grantId);
      if (row) await end(row, how);
    },

    /**
     * The person closed their account: every authorization they made ends with its grant and tokens,
     * each with its audit line on its record (in the caller's transaction).
     */
    async accountClosed(personId: string): Promise<void> {
      for (const row of await store.liveByPerson(personId)) await end(row, 'account-closed');
    },

    /**
     * A record is being erased: whoever made them, its live authorizations end with their grants and
     * tokens (in the erasing transaction), so no token reaches a record that no longer exists.
     */
    async recordErased(recordId: string): Promise<void> {
      for (const row of await store.liveForRecords([recordId])) await end(row, 'account-closed');
    },

    /**
     * The person signed out: every authorization of that sign-in session that is not offline loses
     * its grant and tokens. The authorization stands; the app reaches the record again when the
     * person next signs in to it.
     */
    async signedOut(sessionUid: string): Promise<void> {
      for (const row of await store.findSessionBound(sessionUid)) {
        await db.transaction(async () => {
          await store.setGrant(row.id, null);
          if (row.grant_id) await grants.deleteGrant(row.grant_id);
        });
      }
    },

    /**
     * An app received tokens under an authorization (authorization code or refresh). A code binds
     * an authorization that is not offline to the session it was issued in.
     */
    async tokensIssued(
      authorization: Pick<AuthorizationRow, 'id' | 'record_id' | 'client_id' | 'access' | 'session_uid'>,
      issued: { refreshed: boolean; sessionUid: string | undefined },
    ): Promise<void> {
      if (issued.sessionUid && authorization.access !== 'offline' && authorization.session_uid !== issued.sessionUid) {
        await store.setSession(authorization.id, issued.sessionUid);
      }
      await audit.append(tokensEvent(authorization, issued));
    },

    /** The audit line of tokens issued under an authorization; a refresh's is written by the statement that rotates (oidc/adapter.ts). */
    tokensEvent,

    /** The apps that can reach each of these records, newest first. */
    async connectedApps(recordIds: readonly string[]): Promise<ConnectedApp[]> {
      const rows = await store.liveForRecordsWithPeople(recordIds);
      const clientIds = [...new Set(rows.map((row) => row.client_id))];
      const [names, lastUsed, required] = await Promise.all([
        appNames.names(clientIds),
        audit.lastUsed(rows.map((row) => ({ recordId: row.record_id, clientId: row.client_id }))),
        requiredRules(clientIds),
      ]);
      return rows.map((row) => ({
        id: row.id,
        recordId: row.record_id,
        clientId: row.client_id,
        name: names.get(row.client_id) ?? row.client_id,
        rules: recordRules(row.scope).map((scope) => ({ scope, required: required.get(row.client_id)?.has(scope) ?? false })),
        access: row.access,
        offlineRequired: required.get(row.client_id)?.has('offline_access') ?? false,
        authorizedAt: row.created_at,
        lastUsedAt: lastUsed.get(`${row.record_id} ${row.client_id}`),
        authorizedBy: { id: row.person_id, name: row.person_name ?? 'Someone' },
      }));
    },
  };
}

export type AuthorizationService = ReturnType<typeof createAuthorizationService>;
