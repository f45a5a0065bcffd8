/**
 * The address a request came from, as the limits count it: express's `req.ip` (which honours
 * TRUST_PROXY's `X-Forwarded-For` rule), else the socket's peer.
 */
import type { Request } from 'express';

export function clientAddress(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}
