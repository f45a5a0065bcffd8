/**
 * Outgoing mail (optional), through nodemailer: to the SMTP server of SMTP_URL,
 * or, when none is set, as `.eml` files in `<DATA_DIR>/outbox` — so a server without mail set up
 * still shows what it would have sent, and an operator can hand the files to any mail system.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import nodemailer from 'nodemailer';

type OutgoingMail = { to: string; subject: string; text: string };

export type Mailer = { send(mail: OutgoingMail): Promise<void> };

export function createMailer({ smtpUrl, outboxDir, from }: { smtpUrl: string | undefined; outboxDir: string; from: string }): Mailer {
  if (smtpUrl) {
    // Short timeouts: a slow mail server must not hold an app's request for minutes.
    const transport = nodemailer.createTransport({ url: smtpUrl, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 });
    return {
      async send(mail) {
        await transport.sendMail({ from, ...mail });
      },
    };
  }
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
  return {
    async send(mail) {
      const info = await transport.sendMail({ from, ...mail });
      await fs.mkdir(outboxDir, { recursive: true, mode: 0o700 });
      const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(6).toString('hex')}.eml`;
      await fs.writeFile(path.join(outboxDir, name), info.message as Buffer, { mode: 0o600, flag: 'wx' });
    },
  };
}
