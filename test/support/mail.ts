/**
 * The mails a test server wrote to its outbox (no SMTP_URL set), read back as text a test can
 * search: quoted-printable soft line breaks and escapes undone (RFC 2045 §6.7), so links and
 * words appear as a person would read them.
 */
import fs from 'node:fs';
import path from 'node:path';

/** A mail's text with quoted-printable undone. */
export function unfold(eml: string): string {
  return eml.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_match, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** The mails in `dataDir`'s outbox addressed to `to`, oldest first; none when nothing was mailed yet. */
export function mailsIn(dataDir: string, to: string): string[] {
  const outbox = path.join(dataDir, 'outbox');
  if (!fs.existsSync(outbox)) return [];
  return fs
    .readdirSync(outbox)
    .filter((name) => name.endsWith('.eml'))
    .sort()
    .map((name) => unfold(fs.readFileSync(path.join(outbox, name), 'utf8')))
    .filter((eml) => eml.includes(`To: ${to}`));
}
