/**
 * Reading carevault's self-contained access tokens in tests, as only carevault may: the compact
 * JWS behind the value handed out (access-tokens.ts presents it with `~` for `.`), and the key the
 * server signed it with, derived from its signing key as the server derives it.
 */
import { decodeProtectedHeader } from 'jose';
import { accessTokenKeyOf } from '../../src/oidc/access-tokens';
import { loadSigningJwks } from '../../src/oidc/keys';
import type { TestServer } from './server';

export const asJws = (token: string) => token.replaceAll('~', '.');

export async function signingKeyOf(server: TestServer, token: string): Promise<CryptoKey> {
  const { kid } = decodeProtectedHeader(asJws(token));
  const jwk = (await loadSigningJwks(server.db, server.config.keyEncryptionSecret)).keys.find((key) => key.kid === kid);
  const key = jwk && (await accessTokenKeyOf(jwk));
  if (!key) throw new Error(`no signing key ${String(kid)}`);
  return key;
}
