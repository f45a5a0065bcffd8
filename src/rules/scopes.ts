/**
 * The scope grammar: identity scopes, online/offline access and SMART record scopes
 * `patient/<Type|*>.<cruds>` (SMART v2, with v1 `.read`/`.write`/`.*` accepted as their v2 equals).
 * Pure functions only. https://build.fhir.org/ig/HL7/smart-app-launch/scopes-and-launch-context.html
 */
import { capitalize, sentence } from '../text';
import { ALL_TYPES_WORDS, CATALOGUE, RECORD_TYPES, isRecordType, type RecordType } from './catalogue';

/** Open to every app without being registered as a rule. */
export const IDENTITY_SCOPES = ['openid', 'profile', 'email', 'fhirUser', 'launch/patient'] as const;
export const ACCESS_SCOPES = ['offline_access', 'online_access'] as const;
/** App-level APIs an app may call with a client-credentials token. */
export const CAPABILITIES = ['dopu', 'connect', 'direct'] as const;

export type Capability = (typeof CAPABILITIES)[number];
export type Permission = 'c' | 'r' | 'u' | 'd' | 's';

const PERMISSIONS: readonly Permission[] = ['c', 'r', 'u', 'd', 's'];
const V1_PERMISSIONS: Readonly<Record<string, string>> = { read: 'rs', write: 'cud', '*': 'cruds' };

export type RecordScope = {
  scope: string;
  type: RecordType | '*';
  permissions: ReadonlySet<Permission>;
};

const RECORD_SCOPE = /^patient\/([A-Za-z]+|\*)\.([a-z]+|\*)$/;

/**
 * The app's own Subscriptions in the record (change notifications): scoped like a record type but
 * never part of the record's contents, so `patient/*` does not reach them; only `cruds` is a rule.
 */
export const SUBSCRIPTION_SCOPE = 'patient/Subscription.cruds';

/** Parses a record scope; `undefined` when `scope` is not one. */
export function parseRecordScope(scope: string): RecordScope | undefined {
  const match = RECORD_SCOPE.exec(scope);
  if (!match) return undefined;
  const [, type = '', rawPermissions = ''] = match;
  if (type !== '*' && !isRecordType(type)) return undefined;
  const letters = V1_PERMISSIONS[rawPermissions] ?? rawPermissions;
  // SMART v2: a non-empty subset of c r u d s, in that order, each at most once.
  let last = -1;
  for (const letter of letters) {
    const index = PERMISSIONS.indexOf(letter as Permission);
    if (index <= last) return undefined;
    last = index;
  }
  if (letters === '') return undefined;
  return { scope, type, permissions: new Set(letters as Iterable<Permission>) as ReadonlySet<Permission> };
}

export function isCapability(scope: string): scope is Capability {
  return (CAPABILITIES as readonly string[]).includes(scope);
}

export function isIdentityScope(scope: string): boolean {
  return (IDENTITY_SCOPES as readonly string[]).includes(scope);
}

/** A scope an app may register as a rule: a record scope, `offline_access` or `online_access`. */
export function isRuleScope(scope: string): boolean {
  return (ACCESS_SCOPES as readonly string[]).includes(scope) || scope === SUBSCRIPTION_SCOPE || parseRecordScope(scope) !== undefined;
}

function permissionCombinations(): string[] {
  const result: string[] = [];
  for (let mask = 1; mask < 1 << PERMISSIONS.length; mask += 1) {
    result.push(PERMISSIONS.filter((_, index) => mask & (1 << index)).join(''));
  }
  return result;
}

/** Every scope the server understands (oidc-provider drops scopes it does not know). */
export function allScopes(): string[] {
  const record: string[] = [];
  for (const type of ['*', ...RECORD_TYPES]) {
    for (const permissions of [...permissionCombinations(), ...Object.keys(V1_PERMISSIONS)]) {
      record.push(`patient/${type}.${permissions}`);
    }
  }
  return [...IDENTITY_SCOPES, ...ACCESS_SCOPES, ...CAPABILITIES, SUBSCRIPTION_SCOPE, ...record];
}

/** A short list for discovery documents (the full grammar is documented, not enumerated). */
export function advertisedScopes(): string[] {
  return [
    ...IDENTITY_SCOPES,
    ...ACCESS_SCOPES,
    'patient/*.cruds',
    'patient/*.rs',
    ...RECORD_TYPES.flatMap((type) => [`patient/${type}.rs`, `patient/${type}.cruds`]),
  ];
}

const VERBS: Readonly<Record<Permission, string>> = { c: 'add to', r: 'read', u: 'change', d: 'delete', s: 'search' };

const SCOPE_WORDS: Readonly<Record<string, string>> = {
  openid: 'Know that it is you',
  profile: 'See your name',
  email: 'See your email address',
  fhirUser: 'Know which record is yours',
  'launch/patient': 'Know which record you chose',
  offline_access: 'Keep access while you are away, until you remove it',
  online_access: 'Keep access while you are signed in',
  dopu: 'Drop off packages for people',
  connect: 'Create connect requests',
  direct: 'Send Direct messages',
};

/** "Alex Lee's": whose record a rule reaches, in the words a consent page uses. */
function possessive(name: string): string {
  return `${name}'s`;
}

/** A scope in plain words, e.g. "Read and search your observations — vital signs and lab results"; `app` names who is notified. */
export function describeScope(scope: string, app?: string): string {
  return describeScopeFor(scope, undefined, app);
}

/**
 * A scope in the words of one record: "Read and search Alex Lee's observations — …", so a parent
 * sees whose record the app would reach; `owner` undefined says "your"; `app` is the app's name
 * ("Notify Weight Tracker when your record changes").
 */
export function describeScopeFor(scope: string, owner: string | undefined, app = 'the app'): string {
  if (scope === SUBSCRIPTION_SCOPE) return `Notify ${app} when ${owner === undefined ? 'your record' : `${possessive(owner)} record`} changes`;
  const known = SCOPE_WORDS[scope];
  if (known) return known;
  const parsed = parseRecordScope(scope);
  if (!parsed) return scope;
  const verbs = PERMISSIONS.filter((letter) => parsed.permissions.has(letter)).map((letter) => VERBS[letter]);
  const things = parsed.type === '*' ? ALL_TYPES_WORDS : CATALOGUE[parsed.type].words;
  return `${capitalize(sentence(verbs))} ${owner === undefined ? things : things.replace(/^your /, `${possessive(owner)} `)}`;
}

/** Splits a space-delimited scope string into its distinct scopes, in order. */
export function splitScopes(scope: string | undefined | null): string[] {
  return [...new Set((scope ?? '').split(' ').filter(Boolean))];
}

/** How long an authorization lasts, from its scope: HealthVault's offline and online access. */
export type Access = 'offline' | 'online' | 'none';

export function accessOf(scopes: readonly string[]): Access {
  if (scopes.includes('offline_access')) return 'offline';
  if (scopes.includes('online_access')) return 'online';
  return 'none';
}

/** Each kind of access in words ("also while you are away"), and its short name. */
export const ACCESS_WORDS: Readonly<Record<Access, { words: string; short: string | undefined }>> = {
  offline: { words: 'also while you are away', short: 'offline' },
  online: { words: 'only while you are signed in', short: 'online' },
  none: { words: 'only right after you sign in', short: undefined },
};

/** The record rules in a granted scope: no identity scopes, no access scopes. */
export function recordRules(scope: string): string[] {
  return splitScopes(scope).filter((item) => !isIdentityScope(item) && !(ACCESS_SCOPES as readonly string[]).includes(item));
}
