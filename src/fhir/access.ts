/**
 * The token decides everything on a FHIR request: which record (the authorization its grant
 * carries) and which permissions per type (its SMART scopes).
 * https://build.fhir.org/ig/HL7/smart-app-launch/scopes-and-launch-context.html
 */
import type { AccessTokens } from '../oidc/access-tokens';
import type { RecordType } from '../rules/catalogue';
import { parseRecordScope, type Permission } from '../rules/scopes';
import { InsufficientScope, Unauthorized } from './outcome';

export type RecordAccess = {
  recordId: string;
  clientId: string;
  clientName: string;
  authorizationId: string;
  /** Letters allowed per type; `*` applies to every type. */
  permissions: ReadonlyMap<RecordType | '*', ReadonlySet<Permission>>;
};

type AuthorizationLookup = {
  findByGrantWithApp(grantId: string): Promise<{ id: string; record_id: string; client_id: string; client_name: string | null } | undefined>;
};

const VERB: Readonly<Record<Permission, string>> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

export function allows(access: RecordAccess, type: RecordType, permission: Permission): boolean {
  return Boolean(access.permissions.get(type)?.has(permission) || access.permissions.get('*')?.has(permission));
}

/** Throws 403 insufficient_scope unless the token allows `permission` on `type`. */
export function demand(access: RecordAccess, type: RecordType, permission: Permission): void {
  if (!allows(access, type, permission)) {
    throw new InsufficientScope(`This app was not allowed to ${VERB[permission]} ${type} resources.`, `patient/${type}.${permission}`);
  }
}

export function createRecordAccess(accessTokens: AccessTokens, authorizations: AuthorizationLookup) {
  return {
    /** Resolves the `Authorization: Bearer …` header of a request. */
    async fromHeader(header: string | undefined): Promise<RecordAccess> {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
      if (!match?.[1]) throw new Unauthorized('An access token is required (Authorization: Bearer …).', false);
      const token = await accessTokens.verify(match[1]);
      if (!token) throw new Unauthorized('The access token is not valid: it expired or was revoked.', true);
      const authorization = token.grantId ? await authorizations.findByGrantWithApp(token.grantId) : undefined;
      if (!authorization) throw new Unauthorized('The access token does not reach any record.', true);
      const permissions = new Map<RecordType | '*', Set<Permission>>();
      for (const scope of token.scopes) {
        const parsed = parseRecordScope(scope);
        if (!parsed) continue;
        const set = permissions.get(parsed.type) ?? new Set<Permission>();
        for (const letter of parsed.permissions) set.add(letter);
        permissions.set(parsed.type, set);
      }
      return {
        recordId: authorization.record_id,
        clientId: token.clientId,
        clientName: authorization.client_name ?? token.clientId,
        authorizationId: authorization.id,
        permissions,
      };
    },
  };
}

export type RecordAccessResolver = ReturnType<typeof createRecordAccess>;
