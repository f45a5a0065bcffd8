/**
 * Access to a record: the level a person holds on it and what each level allows. A record's
 * custodians (who opened it, or look after it) hold every right; people it was shared with hold
 * **Full** (also shares, removes others' access and apps, counts as a custodian), **View and
 * change** (also writes) or **View only** (reads). A record is erased only when the last person
 * looking after it (custodian or Full) closes their account; below Full, leaving never erases.
 * The rules an app may be granted follow the level of the person who authorizes it: a View only
 * person grants read rules only.
 */
import { parseRecordScope } from '../rules/scopes';

export type AccessLevel = 'custodian' | 'full' | 'change' | 'view';

/** A level that can be shared (a custodian's is never handed out). */
export type SharedLevel = Exclude<AccessLevel, 'custodian'>;

export const SHARED_LEVELS: readonly SharedLevel[] = ['view', 'change', 'full'];

/** What a person does to a record: read it, write it, share it (and end others' access and apps). */
export type RecordAction = 'read' | 'change' | 'share';

const ALLOWED: Readonly<Record<RecordAction, readonly AccessLevel[]>> = {
  read: ['custodian', 'full', 'change', 'view'],
  change: ['custodian', 'full', 'change'],
  share: ['custodian', 'full'],
};

export function allows(level: AccessLevel | undefined, action: RecordAction): boolean {
  return level !== undefined && ALLOWED[action].includes(level);
}

/** Each level as the pages name it. */
export const LEVEL_WORDS: Readonly<Record<AccessLevel, string>> = {
  custodian: 'Owner',
  full: 'Full',
  change: 'View and change',
  view: 'View only',
};

/** Why a level cannot do something, in the words a 403 page shows. */
export const REFUSED_WORDS: Readonly<Record<Exclude<RecordAction, 'read'>, string>> = {
  change: 'You have View only access to this record, so you can read it but not change it. Ask its owner for View and change access.',
  share: 'Only the record’s owner or someone with Full access can share this record or end other people’s access.',
};

/** Whether a rule lets an app write (SMART v2 `c`, `u` or `d`). */
function ruleWrites(scope: string): boolean {
  const parsed = parseRecordScope(scope);
  return parsed !== undefined && ['c', 'u', 'd'].some((letter) => parsed.permissions.has(letter as 'c' | 'u' | 'd'));
}

/** Whether a person holding `level` may grant an app the rule `scope`. */
export function levelGrants(level: AccessLevel, scope: string): boolean {
  return allows(level, 'change') || !ruleWrites(scope);
}
