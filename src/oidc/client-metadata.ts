/**
 * The registration document's extension fields (`rules`, `capabilities`) as oidc-provider client
 * metadata. The client's `scope` is derived from them, so oidc-provider itself refuses a requested
 * scope the app did not register (RFC 7591 §2: `scope` limits what the client may request).
 */
import { errors } from 'oidc-provider';
import { describeIssue, grantRefusal, registrationDocument, storedDocument } from '../apps/registration';
import { capabilitiesSchema, clientScope, rulesSchema } from '../rules/app-rules';
import { HOME_CLIENT_ID } from './home-client';

/**
 * oidc-provider's `extraClientMetadata.validator`, called for `rules` then `capabilities`: checks
 * and normalizes each, then — dynamic registration taking the same document as the CLI — checks the
 * whole document and derives the client's `scope` and the grant types its rules imply. oidc-provider
 * calls it with the request for a registration (RFC 7591, RFC 7592 update), and without one when it
 * loads a stored client: an app stored before today's rules still loads, without the grants it may
 * no longer use.
 */
export function validateExtraMetadata(ctx: unknown, key: string, value: unknown, metadata: Record<string, unknown>): void {
  const schema = key === 'rules' ? rulesSchema : capabilitiesSchema;
  const parsed = schema.safeParse(value ?? []);
  if (!parsed.success) throw new errors.InvalidClientMetadata(describeIssue(parsed.error, key));
  metadata[key] = parsed.data;
  if (key !== 'capabilities') return;
  if (metadata.client_id === HOME_CLIENT_ID) {
    metadata.scope = clientScope([], []);
    return;
  }
  const registering = ctx !== undefined;
  const whole = (registering ? registrationDocument : storedDocument).safeParse({ ...metadata });
  if (!whole.success) throw new errors.InvalidClientMetadata(describeIssue(whole.error));
  const app = { authMethod: whole.data.token_endpoint_auth_method, capabilities: whole.data.capabilities };
  metadata.scope = clientScope(whole.data.rules, whole.data.capabilities);
  metadata.grant_types = whole.data.grant_types.filter((grant) => grantRefusal(grant, app) === undefined);
}
