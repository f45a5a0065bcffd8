/**
 * The app registration document: the same JSON for the
 * CLI and for dynamic client registration (RFC 7591 with `rules` and `capabilities`). This checks
 * it with messages that name the field; oidc-provider then checks the standard metadata again.
 */
import { z } from 'zod';
import { CLIENT_AUTH_METHODS, CONFIDENTIAL_AUTH_METHODS, DEVICE_CODE_GRANT, GRANT_TYPES } from '../oidc/protocol';
import { capabilitiesSchema, rulesSchema } from '../rules/app-rules';
import { hiddenCharacter, hiddenCharacterRefusal } from '../text';

/**
 * Why an app may not use `grant`, or `undefined` when it may. The grants that act without a person
 * at the keyboard — client credentials (the app-level APIs) and the device grant (Patient Connect)
 * — need an app that proves who it is; the device grant also needs the connect capability. Checked
 * at registration and, for apps stored before, at each use.
 */
export function grantRefusal(grant: string, app: { authMethod: string; capabilities: readonly string[] }): string | undefined {
  if (grant !== 'client_credentials' && grant !== DEVICE_CODE_GRANT) return undefined;
  if (!(CONFIDENTIAL_AUTH_METHODS as readonly string[]).includes(app.authMethod)) {
    return `${grant} needs a confidential app: set token_endpoint_auth_method to client_secret_basic, client_secret_post or private_key_jwt`;
  }
  if (grant === DEVICE_CODE_GRANT && !app.capabilities.includes('connect')) return `${grant} is Patient Connect: register the connect capability instead`;
  return undefined;
}

/** Private-use URI schemes of native apps (RFC 8252 §7.1) are reverse domain names. */
function isPrivateUseScheme(url: URL): boolean {
  return /^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+:$/i.test(url.protocol);
}

const redirectUri = z.string().refine(
  (value) => {
    if (!URL.canParse(value)) return false;
    const url = new URL(value);
    if (url.hash) return false;
    if (url.protocol === 'https:' || isPrivateUseScheme(url)) return true;
    // Plain http only for apps running on the person's own machine (RFC 8252 §7.3).
    return url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  },
  { message: 'must be an https URL (http only for localhost, or an app scheme like com.example.app:/callback) without a fragment' },
);

/**
 * The document as apps stored so far were checked: what every stored app still passes when
 * oidc-provider loads it. New registrations are held to {@link registrationDocument}.
 */
export const storedDocument = z
  .object({
    client_name: z.string().trim().min(1, 'is required').max(100, 'must be at most 100 characters'),
    redirect_uris: z.array(redirectUri).max(20).default([]),
    token_endpoint_auth_method: z.enum(CLIENT_AUTH_METHODS).default('client_secret_basic'),
    grant_types: z
      .array(z.enum(GRANT_TYPES))
      .min(1)
      .refine((list) => new Set(list).size === list.length, { message: 'must not repeat a grant type' })
      .optional(),
    rules: rulesSchema.default([]),
    capabilities: capabilitiesSchema.default([]),
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }, { message: 'must be a JWK Set' }).optional(),
    jwks_uri: z.url({ protocol: /^https$/, message: 'must be an https URL' }).optional(),
    // RFC 9126 §6: the app's authorization requests are accepted only when pushed first.
    require_pushed_authorization_requests: z.boolean({ message: 'must be true or false' }).optional(),
  })
  .passthrough()
  .transform((doc) => {
    // Rules and capabilities imply the grant types they need (as in dynamic registration).
    const refresh = doc.rules.some((rule) => rule.scope === 'offline_access' || rule.scope === 'online_access');
    const grantTypes = new Set(doc.grant_types ?? (doc.redirect_uris.length ? ['authorization_code' as const] : []));
    if (refresh) grantTypes.add('refresh_token');
    if (doc.capabilities.length) grantTypes.add('client_credentials');
    // Patient Connect rides on the device authorization grant (RFC 8628).
    if (doc.capabilities.includes('connect')) grantTypes.add(DEVICE_CODE_GRANT);
    // An app scheme means an app installed on the person's device (OIDC Registration §2).
    const native = doc.redirect_uris.some((uri) => isPrivateUseScheme(new URL(uri)));
    return {
      ...doc,
      ...(native && doc.application_type === undefined ? { application_type: 'native' } : {}),
      grant_types: [...grantTypes],
      response_types: grantTypes.has('authorization_code') ? ['code'] : [],
    };
  })
  .superRefine((doc, ctx) => {
    if (doc.grant_types.includes('authorization_code') && doc.redirect_uris.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['redirect_uris'], message: 'must list at least one URI for authorization_code' });
    }
    if (doc.grant_types.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['grant_types'], message: 'must not be empty' });
    }
    // App-level APIs act without a person: only an app that proves who it is may call them.
    if (doc.capabilities.length && !CONFIDENTIAL_AUTH_METHODS.includes(doc.token_endpoint_auth_method)) {
      ctx.addIssue({
        code: 'custom',
        path: ['capabilities'],
        message: 'need a confidential app: set token_endpoint_auth_method to client_secret_basic, client_secret_post or private_key_jwt',
      });
    }
    if (doc.capabilities.includes('connect') && !doc.rules.some((rule) => rule.scope === 'offline_access')) {
      ctx.addIssue({ code: 'custom', path: ['capabilities'], message: 'connect needs an offline_access rule: a connected app works while the person is away' });
    }
    if (doc.token_endpoint_auth_method === 'private_key_jwt' && !doc.jwks && !doc.jwks_uri) {
      ctx.addIssue({ code: 'custom', path: ['jwks'], message: 'or jwks_uri is required for private_key_jwt' });
    }
  });

/**
 * A new app's document (the CLI and dynamic registration): the stored checks, and the text people
 * are shown reads as it shows, and app-level grants only for apps that may have them. An app
 * stored before keeps loading; its refused grants are dropped as it loads (oidc/client-metadata.ts).
 */
export const registrationDocument = storedDocument.superRefine((doc, ctx) => {
  // People read the name on the consent page and in their records' history, each reason beside its rule.
  const shown: [PropertyKey[], string][] = [
    [['client_name'], doc.client_name],
    ...doc.rules.map((rule, index): [PropertyKey[], string] => [['rules', index, 'reason'], rule.reason]),
  ];
  for (const [path, text] of shown) {
    const found = hiddenCharacter(text);
    if (found) ctx.addIssue({ code: 'custom', path, message: hiddenCharacterRefusal(found) });
  }
  for (const grant of doc.grant_types) {
    const refusal = grantRefusal(grant, { authMethod: doc.token_endpoint_auth_method, capabilities: doc.capabilities });
    if (refusal) ctx.addIssue({ code: 'custom', path: ['grant_types'], message: refusal });
  }
});

export type RegistrationDocument = z.infer<typeof registrationDocument>;

/** "rules[1].scope must be …": the first problem, naming the field. */
export function describeIssue(error: z.ZodError, field?: string): string {
  const issue = error.issues[0];
  if (!issue) return 'the document is invalid';
  const path = field === undefined ? issue.path : [field, ...issue.path];
  const where = path.reduce<string>((text, part) => (typeof part === 'number' ? `${text}[${part}]` : text ? `${text}.${String(part)}` : String(part)), '');
  return where ? `${where}: ${issue.message}` : issue.message;
}

/** Whether the app authenticates with a client secret (and so is issued one). */
export function needsClientSecret(doc: RegistrationDocument): boolean {
  return doc.token_endpoint_auth_method === 'client_secret_basic' || doc.token_endpoint_auth_method === 'client_secret_post';
}
