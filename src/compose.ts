/**
 * The composition root: every core service built once, in dependency order, for the server and
 * for the CLI alike; then the features (feature.ts), each in its two phases — built on the core
 * before the OpenID core starts (handing it the hooks it must call), and completed once it runs.
 * The core names no feature: it takes the list it is given (features.ts for the server).
 */
import path from 'node:path';
import { createAccountService } from './accounts/service';
import { createBearerGate } from './api/gate';
import { createAppNames } from './apps/names';
import { createAppRegistry, type SaveClient } from './apps/service';
import { createAuditLog } from './audit/service';
import { CORE_NEWS, type AuditWording, type AuditWords, type NewsKind } from './audit/words';
import { createAuthorizationService } from './authorizations/service';
import { createTraceStore } from './interactions/store';
import type { Config } from './config';
import type { Database } from './db';
import type { Core, Feature, FeatureDefinition, OidcParts, Sweep } from './feature';
import { createRecordRepositories } from './fhir/repository';
import { createMailer } from './mail';
import type { DeviceFlowHooks } from './oidc/device-flow';
import type { AuthorizationHooks } from './oidc/grants';
import type { People } from './oidc/provider';
import { createAccessTokens } from './oidc/access-tokens';
import { createOidcStorage } from './oidc/storage';
import { createModelStore } from './oidc/store';
import { createRecordService } from './records/service';
import { createRecordEvents } from './record-events';
import { createRateLimits } from './security/rate-limits';
import { sweepRateLimits } from './security/store';

/** Every feature's audit words in one table; a kind worded twice is a mistake caught at start. */
function auditWordsOf(features: readonly FeatureDefinition[]): AuditWords {
  const words: Record<string, AuditWording> = {};
  for (const feature of features) {
    for (const [kind, wording] of Object.entries(feature.auditWords ?? {})) {
      if (Object.hasOwn(words, kind)) throw new Error(`two features word the audit event ${kind}`);
      words[kind] = wording;
    }
  }
  return words;
}

/** Which audit kinds are news for the person: the core's, then each feature's. */
function newsKindsOf(features: readonly FeatureDefinition[]): Record<string, NewsKind> {
  return Object.assign({}, CORE_NEWS, ...features.map((feature) => feature.auditNews ?? {})) as Record<string, NewsKind>;
}

/**
 * The core services, which need only the database (the OpenID core's provider is started on top of
 * them by the server; the CLI needs none of it). `features` are the options whose audit events the
 * record's history words.
 */
export function composeServices(config: Config, db: Database, saveClient: SaveClient, features: readonly FeatureDefinition[]) {
  const accessTokens = createAccessTokens(db, config);
  const oidcStorage = createOidcStorage(db, accessTokens);
  const appNames = createAppNames((ids) => oidcStorage.appNames(ids));
  const audit = createAuditLog(db, appNames, auditWordsOf(features), newsKindsOf(features));
  const limits = createRateLimits(db, config);
  const repositories = createRecordRepositories(db, { fhirBase: `${config.issuer}/fhir` });
  const records = createRecordService(db, repositories, audit);
  const accounts = createAccountService(db, records, limits);
  const authorizations = createAuthorizationService({
    db,
    audit,
    appNames,
    grants: oidcStorage,
    accessOf: (personId, recordId) => records.accessOf(personId, recordId),
    appRules: (clientId) => oidcStorage.appRules(clientId),
  });
  // An erased record's apps lose their grants and tokens in the same transaction.
  records.whenErased((recordId) => authorizations.recordErased(recordId));
  const apps = createAppRegistry(saveClient);
  const gate = createBearerGate({ tokens: oidcStorage, issuer: config.issuer });
  const recordEvents = createRecordEvents();
  const mailer = createMailer({ smtpUrl: config.mail.smtpUrl, outboxDir: path.join(config.dataDir, 'outbox'), from: config.mail.from });

  /** What the OpenID core needs to bind grants to records and name people (oidc/grants.ts). */
  const authorizationHooks: AuthorizationHooks = {
    recordIdsOf: (personId) => records.recordIdsOf(personId),
    find: (clientId, recordId, personId) => authorizations.find(clientId, recordId, personId),
    setGrant: (id, grantId) => authorizations.setGrant(id, grantId),
    findByGrant: (grantId) => authorizations.findByGrant(grantId),
    grantEnded: (grantId, how) => authorizations.grantEnded(grantId, how),
    tokensIssued: (authorization, issued) => authorizations.tokensIssued(authorization, issued),
    tokensEvent: (authorization, issued) => authorizations.tokensEvent(authorization, issued),
    signedOut: (sessionUid) => authorizations.signedOut(sessionUid),
  };
  const people: People = {
    findPerson: (id) => accounts.findPerson(id),
    ownRecordOf: (personId) => records.ownRecordOf(personId),
    secondStepOn: (personId) => accounts.secondStepOn(personId),
  };

  const sweeps: Sweep[] = [
    // Expired codes, tokens, sessions and interactions.
    { name: 'models', run: () => createModelStore(db).sweepExpired() },
    { name: 'rateLimits', run: () => sweepRateLimits(db) },
    // What became of authorization steps, a day on.
    { name: 'interactionTraces', run: () => createTraceStore(db).sweep() },
    // Registration mail a crash or a failed send left behind (sent as soon as a sender's hold ends).
    { name: 'registrationMail', run: () => accounts.sendOwedMail() },
  ];

  return {
    config,
    db,
    oidcStorage,
    accessTokens,
    appNames,
    audit,
    limits,
    repositories,
    records,
    accounts,
    authorizations,
    apps,
    gate,
    mailer,
    recordEvents,
    authorizationHooks,
    people,
    sweeps,
  };
}

export type Services = ReturnType<typeof composeServices>;

/** The device flow's hooks, with the name of the feature that rides on it. */
export type DeviceFlowOwner = { feature: string; hooks: DeviceFlowHooks };

/**
 * Phase one of every feature, on the core: what the OpenID core must call. `afterProvider`
 * completes them once it runs.
 */
export function composeFeatures(definitions: readonly FeatureDefinition[], core: Core) {
  const names = definitions.map((definition) => definition.name);
  const twice = names.find((name, index) => names.indexOf(name) !== index);
  if (twice) throw new Error(`two features are named ${twice}`);
  const built = definitions.map((definition) => ({ name: definition.name, build: definition.build(core) }));
  const riders = built.flatMap(({ name, build }) => (build.deviceFlow ? [{ feature: name, hooks: build.deviceFlow }] : []));
  if (riders.length > 1) throw new Error(`only one feature may ride on the device flow: ${riders.map((rider) => rider.feature).join(', ')}`);
  const [deviceFlow] = riders;
  for (const { build } of built) if (build.recordOpened) core.records.whenOpened(build.recordOpened);
  for (const { build } of built) if (build.recordErased) core.records.whenErased(build.recordErased);
  return {
    deviceFlow: deviceFlow as DeviceFlowOwner | undefined,
    afterProvider: (oidc: OidcParts): Feature[] => built.map(({ name, build }) => ({ name, ...build.afterProvider(oidc) })),
  };
}
