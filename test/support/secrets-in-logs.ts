/**
 * Every test server's log is searched, when it stops, for the credentials it handed out: the
 * access and refresh tokens, authorization and device codes and pushed requests still in its
 * database. Issue 13 asks that no log line ever carry one; this makes every test file that starts
 * a server a check of it, whatever the file itself is about.
 */
import type { Knex } from 'knex';

const CREDENTIAL_MODELS = ['AccessToken', 'ClientCredentials', 'RefreshToken', 'AuthorizationCode', 'DeviceCode', 'PushedAuthorizationRequest'];

let written = '';
let teed = false;

/** From here on, what this process writes to stderr is also kept (and still shown). */
function tee(): void {
  if (teed) return;
  teed = true;
  const original = process.stderr.write.bind(process.stderr) as (...args: unknown[]) => boolean;
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    written += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return original(chunk, ...rest);
  }) as typeof process.stderr.write;
}

/** Marks where a server's log begins; `check(knex)` later searches from there. */
export function watchLogForCredentials(): { check(knex: Knex): Promise<void> } {
  tee();
  const from = written.length;
  return {
    async check(knex) {
      const log = written.slice(from);
      if (log === '') return;
      const rows = (await knex('oidc_models').whereIn('model', CREDENTIAL_MODELS).select('model', 'id')) as { model: string; id: string }[];
      const leaked = rows.filter((row) => row.id.length >= 16 && log.includes(row.id));
      if (leaked.length > 0) {
        throw new Error(`the server's log holds ${leaked.length} credential(s): ${[...new Set(leaked.map((row) => row.model))].join(', ')}`);
      }
    },
  };
}
