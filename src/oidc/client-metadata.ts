/**
 * The registration document's extension fields (`rules`, `capabilities`) as oidc-provider client
 * metadata. The client's `scope` is derived from them, so oidc-provider itself refuses a requested
 * scope the app did not register (RFC 7591 §2: `scope` limits what the client may request).
 */
import { errors } from 'oidc-provider';
import { describeIssue, registrationDocument } from '../apps/registration';
import { capabilitiesSchema, clientScope, rulesSchema } from '../rules/app-rules';
import { HOME_CLIENT_ID } from './home-client';

/**
 * oidc-provider's `extraClientMetadata.validator`, called for `rules` then `capabilities`: checks
 * and normalizes each, then — dynamic registration taking the same document as the CLI — checks the
 * whole document and derives the client's `scope` and the grant types its rules imply.
 */
export function validateExtraMetadata(_ctx: unknown, key: string, value: unknown, metadata: Record<string, unknown>): void {
  const schema = key === 'rules' ? rulesSchema : capabilitiesSchema;
  const parsed = schema.safeParse(value ?? []);
  if (!parsed.success) throw new errors.InvalidClientMetadata(describeIssue(parsed.error, key));
  metadata[key] = parsed.data;
  if (key !== 'capabilities') return;
  if (metadata.client_id === HOME_CLIENT_ID) {
    metadata.scope = clientScope([], []);
    return;
  }
  const whole = registrationDocument.safeParse({ ...metadata });
  if (!whole.success) throw new errors.InvalidClientMetadata(describeIssue(whole.error));
  metadata.scope = clientScope(whole.data.rules, whole.data.capabilities);
  metadata.grant_types = whole.data.grant_types;
}
