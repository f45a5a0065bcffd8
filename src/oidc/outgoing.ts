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

const BLOCKED = new net.BlockList();
for (const [prefix, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const) {
  BLOCKED.addSubnet(prefix, bits, 'ipv4');
}
for (const [prefix, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  BLOCKED.addSubnet(prefix, bits, 'ipv6');
}

/** Loopback, private, link-local, shared, multicast or unspecified. */
function isInternalAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return isInternalAddress(mapped);
  const family = net.isIP(address);
  if (family === 4) return BLOCKED.check(address, 'ipv4');
  if (family === 6) return BLOCKED.check(address, 'ipv6');
  return false;
}

/** A host that is an internal address, or a name that always means this machine (RFC 6761 §6.3). */
function isInternalHost(hostname: string): boolean {
  const host = hostname
    .replace(/^\[|\]$/g, '')
    .toLowerCase()
    .replace(/\.$/, '');
  return host === 'localhost' || host.endsWith('.localhost') || isInternalAddress(host);
}

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
