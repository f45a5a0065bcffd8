/**
 * What carevault lets an app make it fetch. Registration metadata names URLs the server itself
 * fetches (`sector_identifier_uri` at registration, `jwks_uri` when the app signs in): pointed at
 * loopback, private or link-local addresses they would let anyone with a registration token probe
 * the inside of the network (OWASP SSRF Prevention Cheat Sheet). Such URLs are refused at
 * registration, and every outgoing fetch resolves the host first and refuses such addresses;
 * oidc-provider's own dispatcher checks the connected address again (DNS rebinding).
 * REGISTRATION_ALLOW_PRIVATE_URIS lifts both, for tests and closed networks.
 */
import dns from 'node:dns/promises';
import net from 'node:net';
import { errors } from 'oidc-provider';
import { isInternalAddress, isInternalHost } from '../security/addresses';

const FETCHED_FIELDS = ['sector_identifier_uri', 'jwks_uri'] as const;

/** At registration (CLI and dynamic): refuses fetched URLs whose host is internal. */
export function checkFetchedUris(metadata: Record<string, unknown>): void {
  for (const field of FETCHED_FIELDS) {
    const value = metadata[field];
    if (typeof value !== 'string' || !URL.canParse(value)) continue;
    if (isInternalHost(new URL(value).hostname)) {
      throw new errors.InvalidClientMetadata(`${field} must not point at a loopback, private or link-local address`);
    }
  }
}

type Fetch = (url: URL | string, options: RequestInit & { dispatcher?: unknown }) => Promise<Response>;

/** oidc-provider's `fetch`: the host must resolve only to public addresses, unless allowed. */
export function outgoingFetch(allowInternal: boolean): Fetch {
  return async (url, options) => {
    if (allowInternal) {
      // oidc-provider's dispatcher would cut connections to internal addresses.
      const { dispatcher: _ignored, ...rest } = options;
      return globalThis.fetch(url, rest);
    }
    const { hostname } = new URL(url);
    const host = hostname.replace(/^\[|\]$/g, '');
    const addresses = net.isIP(host) ? [host] : (await dns.lookup(host, { all: true })).map((entry) => entry.address);
    if (isInternalHost(hostname) || addresses.some(isInternalAddress)) {
      throw new Error(`refused to fetch ${new URL(url).origin}: it resolves to a loopback, private or link-local address`);
    }
    return globalThis.fetch(url, options);
  };
}
