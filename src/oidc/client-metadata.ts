/**
 * The registration document's extension fields (`rules`, `capabilities`) as oidc-provider client
 * metadata. The client's `scope` is derived from them, so oidc-provider itself refuses a requested
 * scope the app did not register (RFC 7591 §2: `scope` limits what the client may request).
 */
import { errors } from 'oidc-provider';
import type { ZodError } from 'zod';
import { describeIssue, registrationDocument } from '../apps/registration';
import { capabilitiesSchema, clientScope, rulesSchema, type Rule } from '../rules/app-rules';
import { HOME_CLIENT_ID } from './home-client';
import type { Capability } from '../rules/scopes';

function describe(key: string, error: ZodError): string {
  const issue = error.issues[0];
  const where = [key, ...(issue?.path ?? [])].map((part) => (typeof part === 'number' ? `[${part}]` : `.${String(part)}`)).join('').slice(1);
  return `${where.replace(/\.\[/g, '[')} ${issue?.message ?? 'is invalid'}`;
}

/** oidc-provider's `extraClientMetadata.validator`: checks and normalizes rules and capabilities. */
export function validateExtraMetadata(_ctx: unknown, key: string, value: unknown, metadata: Record<string, unknown>): void {
  const schema = key === 'rules' ? rulesSchema : capabilitiesSchema;
  const parsed = schema.safeParse(value ?? []);
  if (!parsed.success) throw new errors.InvalidClientMetadata(describe(key, parsed.error));
  metadata[key] = parsed.data;
  if (key === 'capabilities' && metadata.client_id !== HOME_CLIENT_ID) {
    // Dynamic registration takes the same document as the CLI, with the same checks.
    const whole = registrationDocument.safeParse({ ...metadata });
    if (!whole.success) throw new errors.InvalidClientMetadata(describeIssue(whole.error));
  }
  if (key === 'capabilities') {
    const rules = (metadata.rules ?? []) as Rule[];
    metadata.scope = clientScope(rules, parsed.data as Capability[]);
    // Rules and capabilities imply the grant types they need, so the same document registers the
    // same app through the CLI and through dynamic registration.
    const grantTypes = [...((metadata.grant_types ?? []) as string[])];
    const usesRefresh = rules.some((rule) => rule.scope === 'offline_access' || rule.scope === 'online_access');
    if (usesRefresh && !grantTypes.includes('refresh_token')) grantTypes.push('refresh_token');
    if (parsed.data.length > 0 && !grantTypes.includes('client_credentials')) grantTypes.push('client_credentials');
    metadata.grant_types = grantTypes;
  }
}
