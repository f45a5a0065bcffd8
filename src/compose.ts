/**
 * The composition root: every service built once, in dependency order, for the server and for the
 * CLI alike. Features (the connectivity options) contribute their routes, their periodic sweeps and
 * their listeners (HTTP now, SMTP next) into the lists the server starts.
 */
import type express from 'express';
import { createAccountService } from './accounts/service';
import { createBearerGate } from './api/gate';
import { connectFeature } from './connect/feature';
import { createConnectService } from './connect/service';
import { createAppRegistry } from './apps/service';
import { createAuditLog } from './audit/service';
import { createAuthorizationService } from './authorizations/service';
import type { Config } from './config';
import type { Database } from './db';
import { directFeature } from './direct/feature';
import { dopuFeature } from './dopu/feature';
import { createRecordRepositories } from './fhir/repository';
import type { PromptPage } from './interactions/routes';
import type { ConnectHooks } from './oidc/device-flow';
import type { AuthorizationHooks } from './oidc/grants';
import type { OidcRuntime } from './oidc/runtime';
import type { People } from './oidc/provider';
import { createOidcStorage } from './oidc/storage';
import { createModelStore } from './oidc/store';
import { createRecordService } from './records/service';
import type { Csrf } from './security/csrf';
import { createLimit } from './security/rate-limits';
import { sweepRateLimits } from './security/store';
import type { SaveClient } from './apps/service';

/** A periodic clean-up; returns how many rows it removed. Idempotent, so any instance may run it. */
export type Sweep = { name: string; run(): Promise<number> };

/** Something that listens for the outside world (HTTP, SMTP), started and closed with the server. */
export type Listener = { name: string; start(): Promise<void>; close(): Promise<void> };

/** What a connectivity option adds to the server. */
export type Feature = {
  name: string;
  /** Mounted after carevault's own routes, before the 404; pages get the CSRF protection. */
  routes?: (web: { csrf: Csrf }) => express.Router;
  /** Pages of the feature's own interaction prompts, by prompt name. */
  prompts?: ReadonlyMap<string, PromptPage>;
  sweeps?: readonly Sweep[];
  listeners?: readonly Listener[];
  /** Each record's Direct address (`<name>@<domain>`), shown on /records. */
  recordAddresses?: (records: readonly { id: string; name: string }[]) => Promise<ReadonlyMap<string, string>>;
};

/**
 * The services that need only the database (the OpenID core's provider is started on top of them
 * by the server; the CLI needs none of it).
 */
export function composeServices(config: Config, db: Database, saveClient: SaveClient) {
  const oidcStorage = createOidcStorage(db);
  const audit = createAuditLog(db, (ids) => oidcStorage.appNames(ids));
  const repositories = createRecordRepositories(db, { fhirBase: `${config.issuer}/fhir` });
  const records = createRecordService(db, repositories, audit);
  const accounts = createAccountService(db, records, config);
  const authorizations = createAuthorizationService({
    db,
    audit,
    appNames: (ids) => oidcStorage.appNames(ids),
    grants: oidcStorage,
    isCustodian: (personId, recordId) => records.isCustodian(personId, recordId),
  });
  const connect = createConnectService({
    db,
    audit,
    authorizationOfGrant: (grantId) => authorizations.findByGrant(grantId),
    endDeviceCode: (deviceCodeKey) => oidcStorage.endDeviceCode(deviceCodeKey),
    pollInterval: config.connectPollInterval,
  });
  const apps = createAppRegistry(saveClient);
  const gate = createBearerGate({ tokens: oidcStorage, issuer: config.issuer });

  /** What the OpenID core needs to bind grants to records and name people (oidc/grants.ts). */
  const authorizationHooks: AuthorizationHooks = {
    recordIdsOf: (personId) => records.recordIdsOf(personId),
    find: (clientId, recordId) => authorizations.find(clientId, recordId),
    setGrant: (id, grantId) => authorizations.setGrant(id, grantId),
    findByGrant: (grantId) => authorizations.findByGrant(grantId),
    grantEnded: (grantId, how) => authorizations.grantEnded(grantId, how),
    tokensIssued: (authorization, issued) => authorizations.tokensIssued(authorization, issued),
    signedOut: (sessionUid) => authorizations.signedOut(sessionUid),
  };
  const people: People = {
    findPerson: (id) => accounts.findPerson(id),
    ownRecordOf: (personId) => records.ownRecordOf(personId),
  };

  /** What the OpenID core's device flow needs from Patient Connect (oidc/device-flow.ts). */
  const connectHooks: ConnectHooks = {
    pendingFor: (clientId, externalId) => connect.pendingFor(clientId, externalId),
    requested: (input) => connect.requested(input),
    promptState: (deviceCode, accountId) => connect.promptState(deviceCode, accountId),
    async approved(deviceCode, grantId, accountId) {
      const person = await accounts.findPerson(accountId);
      const approved = person ? await connect.approved(deviceCode, grantId, person) : undefined;
      return approved && { recordName: (await records.recordFor(accountId, approved.recordId)).name };
    },
    declined: (deviceCode) => connect.declined(deviceCode),
    poll: (deviceCode, clientId) => connect.poll(deviceCode, clientId),
    pollInterval: config.connectPollInterval,
    codeGuesses: createLimit(db, {
      prefix: 'connect-code-address',
      points: config.signIn.failuresPerAccount * 2,
      duration: config.signIn.lockDuration,
      lockDuration: config.signIn.lockDuration,
      message: 'Too many wrong identity codes from your network.',
    }),
  };

  const sweeps: Sweep[] = [
    // Expired codes, tokens, sessions and interactions.
    { name: 'models', run: () => createModelStore(db).sweepExpired() },
    { name: 'rateLimits', run: () => sweepRateLimits(db) },
  ];

  return { config, db, oidcStorage, audit, repositories, records, accounts, authorizations, connect, apps, gate, authorizationHooks, connectHooks, people, sweeps };
}

export type Services = ReturnType<typeof composeServices>;

/** The connectivity options, each a feature folder, built on the services and the OpenID core. */
export function composeFeatures(services: Services, oidc: OidcRuntime): Feature[] {
  return [dopuFeature(services, oidc), connectFeature(services, oidc), directFeature(services)];
}
