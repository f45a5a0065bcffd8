/**
 * What a person's token lets an app do in the record it reaches: the permissions per type that its
 * SMART scopes grant. https://build.fhir.org/ig/HL7/smart-app-launch/scopes-and-launch-context.html
 */
import { InsufficientScope } from '../api/errors';
import type { RecordCaller } from '../api/gate';
import type { RecordType } from '../rules/catalogue';
import { parseRecordScope, type Permission } from '../rules/scopes';

export type Permissions = ReadonlyMap<RecordType | '*', ReadonlySet<Permission>>;

const VERB: Readonly<Record<Permission, string>> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

/** Letters allowed per type; `*` applies to every type. */
export function permissionsOf(scopes: readonly string[]): Permissions {
  const permissions = new Map<RecordType | '*', Set<Permission>>();
  for (const scope of scopes) {
    const parsed = parseRecordScope(scope);
    if (!parsed) continue;
    const set = permissions.get(parsed.type) ?? new Set<Permission>();
    for (const letter of parsed.permissions) set.add(letter);
    permissions.set(parsed.type, set);
  }
  return permissions;
}

export function allows(permissions: Permissions, type: RecordType, permission: Permission): boolean {
  return Boolean(permissions.get(type)?.has(permission) || permissions.get('*')?.has(permission));
}

/** Throws 403 insufficient_scope unless the caller's token allows `permission` on `type`. */
export function demand(caller: RecordCaller, type: RecordType, permission: Permission): void {
  if (!allows(permissionsOf(caller.scopes), type, permission)) {
    throw new InsufficientScope(`This app was not allowed to ${VERB[permission]} ${type} resources.`, `patient/${type}.${permission}`, caller.scheme);
  }
}
