/**
 * Registering apps: the document is checked, given a URL-safe client_id and, for confidential apps,
 * a URL-safe 256-bit client_secret (SMART's JS client does not form-encode credentials), then saved.
 */
import { Invalid } from '../errors';
import { randomToken } from '../security/secrets';
import { clientScope } from '../rules/app-rules';
import { describeIssue, needsClientSecret, registrationDocument } from './registration';

/** The registration document is refused; the message names the field. */
export class InvalidApp extends Invalid {
  constructor(message: string) {
    super(message, 'invalid_client_metadata');
  }
}

export type SaveClient = (metadata: Record<string, unknown> & { client_id: string }) => Promise<void>;

export function createAppRegistry(saveClient: SaveClient) {
  return {
    /**
     * Registers the app described by `input` (parsed JSON).
     * @returns the registered client as its metadata, including `client_secret` when one was
     *   issued; the secret is shown only here and stored hashed.
     * @throws InvalidApp naming the field at fault.
     */
    register: (input: unknown) => registerApp(input, saveClient),
  };
}

async function registerApp(input: unknown, saveClient: SaveClient): Promise<Record<string, unknown>> {
  const parsed = registrationDocument.safeParse(input);
  if (!parsed.success) throw new InvalidApp(describeIssue(parsed.error));
  const doc = parsed.data;
  const metadata = {
    ...doc,
    client_id: randomToken(16),
    client_id_issued_at: Math.floor(Date.now() / 1000),
    scope: clientScope(doc.rules, doc.capabilities),
    ...(needsClientSecret(doc) ? { client_secret: randomToken(32), client_secret_expires_at: 0 } : {}),
  };
  await saveClient(metadata);
  return metadata;
}
