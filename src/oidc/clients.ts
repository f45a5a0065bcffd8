/**
 * Registers an app as an oidc-provider client from outside a request (the CLI): oidc-provider's own
 * client schema validates it, then it is stored through the adapter like a dynamically registered
 * client. https://www.rfc-editor.org/rfc/rfc7591#section-2
 */
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import { InvalidApp } from '../apps/service';

export async function saveClient(provider: Provider, metadata: Record<string, unknown> & { client_id: string }): Promise<void> {
  try {
    await provider.Client.validate(metadata as never);
  } catch (error) {
    if (error instanceof errors.InvalidClientMetadata || error instanceof errors.InvalidRedirectUri) {
      throw new InvalidApp(error.error_description ?? error.message);
    }
    throw error;
  }
  await (provider.Client as unknown as { adapter: { upsert(id: string, payload: unknown): Promise<void> } }).adapter.upsert(
    metadata.client_id,
    metadata,
  );
}
