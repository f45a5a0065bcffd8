/**
 * Telling a lost database from a bug. When PostgreSQL goes away (a restart, a fail-over, backends
 * terminated, the embedded server's socket gone) every surface answers 503 with `Retry-After`
 * instead of a 500 (RFC 9110 §15.6.4), and the pool reconnects by itself once it is back.
 */

/** Seconds a client is told to wait before trying again. */
export const RETRY_AFTER_SECONDS = 5;

export const UNAVAILABLE_MESSAGE = 'carevault cannot reach its database just now. Please try again in a few seconds.';

/** Node's socket errors that mean the server is unreachable or the connection died. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'ENOENT', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Words of pg, knex and tarn for a connection that died or could not be had. */
const MESSAGES = [
  'Connection terminated',
  'connection is closed',
  'Client has encountered a connection error',
  'Timeout acquiring a connection',
  'terminating connection due to administrator command',
  'is not currently accepting connections',
  'the database system is',
  'Client was closed and is not queryable',
];

/**
 * True when `error` says the database cannot be reached: SQLSTATE class 08 (connection
 * exception), 57P01–57P03 (admin shutdown, crash shutdown, cannot connect now), 53300 (too many
 * connections), 55000 on connect (database not accepting connections), or the driver's words.
 */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 3) return false;
  const { code, message, name, cause } = error as { code?: unknown; message?: unknown; name?: unknown; cause?: unknown };
  if (typeof code === 'string') {
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') return true;
    const syscall = (error as { syscall?: unknown }).syscall;
    if (SOCKET_CODES.has(code) && (syscall === 'connect' || syscall === 'read' || syscall === 'write' || syscall === 'getaddrinfo')) return true;
  }
  if (name === 'KnexTimeoutError') return true;
  if (typeof message === 'string' && MESSAGES.some((words) => message.includes(words))) return true;
  return isDatabaseUnavailable(cause, depth + 1);
}
