/**
 * The structured log: pino, one JSON line per event on stderr (`time`, `level`, `message`, facts).
 * Callers pass facts, never secrets; the request log (http/request-log.ts, carevault's own) writes
 * through the same logger. Lines go through `process.stderr.write` at the moment they are written,
 * so whatever watches stderr (a container runtime, a test collecting the lines) sees every one.
 */
import pino from 'pino';

type Level = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export const logger = pino(
  {
    level: 'info',
    base: undefined,
    messageKey: 'message',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  },
  { write: (line: string) => process.stderr.write(line) },
);

export function setLogLevel(level: Level): void {
  logger.level = level;
}

export const log = {
  debug: (message: string, fields: Record<string, unknown> = {}) => logger.debug(fields, message),
  info: (message: string, fields: Record<string, unknown> = {}) => logger.info(fields, message),
  warn: (message: string, fields: Record<string, unknown> = {}) => logger.warn(fields, message),
  error: (message: string, fields: Record<string, unknown> = {}) => logger.error(fields, message),
};

/**
 * What is safe to log of an unexpected error: its class, code, message and stack — never the
 * driver's `detail` (PostgreSQL puts the offending values there) or any request data.
 */
export function describeError(error: unknown): Record<string, unknown> {
  if (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string') {
    const { name, code, message, stack } = error as { name?: unknown; code?: unknown; message: string; stack?: unknown };
    return { error: typeof name === 'string' ? name : 'Error', ...(typeof code === 'string' ? { code } : {}), detail: message.slice(0, 500), stack };
  }
  return { error: typeof error };
}
