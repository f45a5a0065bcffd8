/**
 * Which addresses carevault refuses to send requests to on an app's say-so: loopback, private,
 * link-local, shared, multicast and unspecified ones, and names that always mean this machine
 * (OWASP SSRF Prevention Cheat Sheet; RFC 6761 §6.3). Registration's fetched URLs and
 * Subscription endpoints both judge hosts by this one list.
 */
import dns from 'node:dns/promises';
import net from 'node:net';

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
export function isInternalAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return isInternalAddress(mapped);
  const family = net.isIP(address);
  if (family === 4) return BLOCKED.check(address, 'ipv4');
  if (family === 6) return BLOCKED.check(address, 'ipv6');
  return false;
}

/** A host that is an internal address, or a name that always means this machine (RFC 6761 §6.3). */
export function isInternalHost(hostname: string): boolean {
  const host = hostname
    .replace(/^\[|\]$/g, '')
    .toLowerCase()
    .replace(/\.$/, '');
  return host === 'localhost' || host.endsWith('.localhost') || isInternalAddress(host);
}

/** Whether `hostname` is internal or resolves (now) to any internal address. */
export async function resolvesInternally(hostname: string): Promise<boolean> {
  if (isInternalHost(hostname)) return true;
  const host = hostname.replace(/^\[|\]$/g, '');
  const addresses = net.isIP(host) ? [host] : (await dns.lookup(host, { all: true })).map((entry) => entry.address);
  return addresses.some(isInternalAddress);
}
