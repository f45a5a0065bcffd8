/**
 * The feature contract: how a connectivity option — a folder such as dopu/, connect/ or direct/ —
 * plugs into the server without the core naming it. A feature is listed once (features.ts) as a
 * {@link FeatureDefinition}; the server builds it in two phases:
 * 1. `build(core)`, before the OpenID core starts, on the core services the feature declares it
 *    needs (its factory takes a `Pick` of {@link Core}); it may hand the OpenID core hooks to call
 *    (a device flow);
 * 2. `afterProvider(oidc)`, once the OpenID core runs: what the feature adds to the server — routes,
 *    app API operations, interaction prompts' pages, listeners, sweeps, record panels and metric gauges.
 * Audit words are known before anything is built, so the record's history words every event.
 */
import type express from 'express';
import type { AccountService } from './accounts/service';
import type { BearerGate } from './api/gate';
import type { AppOperation } from './api/operations';
import type { AppNames } from './apps/names';
import type { AuditLog } from './audit/service';
import type { AuditWords, NewsKind } from './audit/words';
import type { AuthorizationService } from './authorizations/service';
import type { Config } from './config';
import type { Database } from './db';
import type { RecordRepositories } from './fhir/repository';
import type { Mailer } from './mail';
import type { PromptPage, StepOver } from './interactions/routes';
import type { DeviceFlowHooks } from './oidc/device-flow';
import type { OidcRuntime } from './oidc/runtime';
import type { OidcStorage } from './oidc/storage';
import type { RecordEvents } from './record-events';
import type { RecordService, RecordSummary } from './records/service';
import type { FileImport } from './records/transfer-routes';
import type { Csrf } from './security/csrf';
import type { RateLimits } from './security/rate-limits';

/** A periodic clean-up; returns how many rows it removed. Idempotent, so any instance may run it. */
export type Sweep = { name: string; run(): Promise<number> };

/** Something that listens for the outside world (HTTP, SMTP), started and closed with the server. */
export type Listener = { name: string; start(): Promise<void>; close(): Promise<void> };

/** One record's entry in a panel: text, and where it leads. */
export type PanelEntry = { text: string; href?: string };

/**
 * What a feature shows about each record: a column on /records and a line on the record page,
 * both under `heading`. Only the records' custodians see them.
 */
export type RecordPanel = {
  heading: string;
  /** The entry for each of these records, by record id (records it has nothing for are left out). */
  entries(records: readonly RecordSummary[]): Promise<ReadonlyMap<string, PanelEntry>>;
};

/**
 * A gauge of things a feature stores, by status, read from the database when Prometheus scrapes.
 * Every status in `statuses` is reported, at zero too, so a dashboard's series do not vanish.
 */
export type StatusGauge = { name: string; help: string; statuses: readonly string[]; count(): Promise<Record<string, number>> };

/**
 * Something waiting for the person, counted beside its link in the navigation (unread messages):
 * `count` answers for the records the person holds, in one query.
 */
type UnreadCount = { href: string; count(recordIds: readonly string[]): Promise<number> };

/**
 * FHIR resource types a feature serves under /fhir beside the record's own (Subscription): its
 * router, mounted behind the FHIR API's CORS, format check and OperationOutcome errors, before the
 * record types' routes; and its entries of the CapabilityStatement's `rest.resource`.
 */
export type FhirPart = { router: express.Router; resources: readonly Record<string, unknown>[] };

/** What a feature adds to the running server (all optional). */
type FeatureParts = {
  /** Mounted after carevault's own routes, before the 404; pages get the CSRF protection. */
  routes?: (web: { csrf: Csrf }) => express.Router;
  /** The feature's app API operations: mounted behind the bearer gate and described in /api/openapi.json. */
  api?: readonly AppOperation[];
  /** Pages of the feature's own interaction prompts, by prompt name. */
  prompts?: ReadonlyMap<string, PromptPage>;
  /** Where the page of a step of the feature's flow leads once that interaction is over (Back, reload), instead of "start again". */
  stepOver?: StepOver;
  sweeps?: readonly Sweep[];
  listeners?: readonly Listener[];
  recordPanels?: readonly RecordPanel[];
  gauges?: readonly StatusGauge[];
  fhir?: FhirPart;
  unread?: readonly UnreadCount[];
  /** Kinds of file the record page's Import takes besides FHIR Bundles (the first that accepts a file keeps it). */
  fileImports?: readonly FileImport[];
  /** Told of each request of a signed-in person (which session, which browser), before the routes run. */
  sessionSeen?: (visit: SessionVisit) => Promise<void>;
};

/** A signed-in person's request, as {@link FeatureParts.sessionSeen} sees it. */
export type SessionVisit = { personId: string; sessionUid: string; userAgent: string | undefined };

/** A built feature, named. */
export type Feature = FeatureParts & { name: string };

/**
 * What the core offers features to build on. A feature's factory declares the part it needs as a
 * `Pick` of this (narrowing members further where it can), never the whole.
 */
export type Core = {
  config: Config;
  db: Database;
  audit: AuditLog;
  repositories: RecordRepositories;
  records: RecordService;
  accounts: Pick<
    AccountService,
    | 'findPerson'
    | 'findByEmail'
    | 'onRegistrationMail'
    | 'useSecondStep'
    | 'confirmEmail'
    | 'replacePassword'
    | 'rename'
    | 'passwordMatches'
    | 'changeEmail'
    | 'remove'
  >;
  authorizations: Pick<AuthorizationService, 'findById' | 'findByGrant' | 'signedOut' | 'connectedApps' | 'accountClosed' | 'accessEnded' | 'accessLowered'>;
  oidcStorage: Pick<OidcStorage, 'authenticateApp' | 'endDeviceCode' | 'endSessionsOf' | 'sessionsOf' | 'endSessionOf' | 'endEverythingOf'>;
  gate: BearerGate;
  appNames: AppNames;
  limits: RateLimits;
  /** The one outgoing mailer (SMTP, or the outbox directory). */
  mailer: Mailer;
  /** News of records, told by one feature after its change committed and heard by others. */
  recordEvents: RecordEvents;
};

/** What the OpenID core must call, given before it starts. */
type ProviderHooks = {
  /** An option riding on the device authorization grant (at most one feature gives it). */
  deviceFlow?: DeviceFlowHooks;
};

/** What the feature needs of the running OpenID core. */
export type OidcParts = Pick<OidcRuntime, 'cookieKeys' | 'interactions'>;

/** A record just opened, as a feature's hook sees it. */
type OpenedRecord = { id: string; name: string };

/** Phase one's result: hooks for the OpenID core, and phase two. */
type FeatureBuild = ProviderHooks & {
  /**
   * Runs inside the transaction that opens a record, so what the feature keeps for every record
   * (an address, say) exists from the record's first moment; a throw rolls the record back.
   */
  recordOpened?(record: OpenedRecord): Promise<void>;
  /**
   * Runs inside the transaction that erases a record (its last custodian closed their account), so
   * nothing the feature keeps for it outlives it; a throw keeps the record.
   */
  recordErased?(recordId: string): Promise<void>;
  afterProvider(oidc: OidcParts): FeatureParts;
};

/** A connectivity option, as features.ts lists it. */
export type FeatureDefinition = {
  /** Also the name of its sweeps' and metrics' owner; unique. */
  name: string;
  /** Its words for its own kinds of audit event on a record's history. */
  auditWords?: AuditWords;
  /** Which of its audit kinds are news for the person on their home page (a message, items added, a connection). */
  auditNews?: Readonly<Record<string, NewsKind>>;
  build(core: Core): FeatureBuild;
};
