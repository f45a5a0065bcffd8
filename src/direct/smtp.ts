/**
 * The Direct SMTP receiver: a real SMTP server (smtp-server) on DIRECT_SMTP_PORT,
 * started and closed with carevault as one of its listeners. Senders are apps: they sign in with
 * SMTP AUTH (PLAIN or LOGIN), their client id as user name and client secret as password, and
 * must be registered with the `direct` capability (smtp-sign-in.ts: wrong secrets make the
 * guessing address wait or be refused, 454, never the app elsewhere). Refusals come before anything
 * is stored: 535 for a wrong secret, 530 without AUTH (at MAIL FROM), 550 for an unknown recipient (at RCPT TO), 552 over the size
 * limit (announced as SIZE; a declared SIZE is refused at MAIL FROM, a longer message at the end
 * of DATA), and 554 with the reason for a refused attachment. An accepted message is parsed whole,
 * then stored in one transaction.
 *
 * With DIRECT_TLS_CERT and DIRECT_TLS_KEY, STARTTLS is offered and AUTH needs it. Without them AUTH
 * is allowed in clear text: for loopback and tests, or behind a relay that terminates TLS.
 */
import { readFile } from 'node:fs/promises';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { Listener } from '../feature';
import { DomainError, TooManyAttempts } from '../errors';
import { describeError, log } from '../log';
import { MAX_RECIPIENTS, MAX_SMTP_BYTES } from './limits';
import { parseMail } from './mime';
import type { DirectService } from './service';
import type { SmtpSender, SmtpSignIn } from './smtp-sign-in';

type Deps = {
  port: number;
  /** The server's name in its greeting. */
  hostname: string;
  tls: { certFile: string; keyFile: string } | undefined;
  direct: DirectService;
  signIn: SmtpSignIn;
};

/** An SMTP reply for smtp-server: the code and the text after it. */
function reply(code: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode: code });
}

/** A refusal of the service as an SMTP reply (RFC 5321 §4.2.3, RFC 3463 enhanced codes in the text). */
function replyOf(error: unknown): Error & { responseCode: number } {
  if (error instanceof TooManyAttempts) return reply(450, `4.7.1 ${error.message}`);
  if (error instanceof DomainError) {
    if (error.kind === 'not_found') return reply(550, `5.1.1 ${error.message}`);
    if (error.kind === 'too_large') return reply(552, `5.3.4 ${error.message}`);
    return reply(554, `5.6.0 ${error.message} Nothing was stored.`);
  }
  log.error('direct: could not store a received message', describeError(error));
  return reply(451, '4.3.0 The message could not be stored; nothing was kept. Try again later.');
}

/** A refused sign-in as an SMTP reply (RFC 4954 §6: 454 to wait, 535 for credentials). */
function authReplyOf(error: unknown): Error {
  if (error instanceof TooManyAttempts) return reply(454, `4.7.0 ${error.message}`);
  if (error instanceof DomainError) return reply(535, `5.7.8 ${error.message}`);
  log.error('direct: could not sign an app in', describeError(error));
  return reply(454, '4.7.0 Sign-in is not possible just now. Try again later.');
}

function senderOf(session: SMTPServerSession): SmtpSender {
  return session.user as SmtpSender;
}

/** Reads the message up to the limit (past it, the rest is read and dropped: 552 follows). */
function readMessage(stream: SMTPServerDataStream): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_SMTP_BYTES) chunks.push(chunk);
    });
    stream.once('error', reject);
    stream.once('end', () => resolve(stream.sizeExceeded ? undefined : Buffer.concat(chunks)));
  });
}

export function smtpListener({ port, hostname, tls, direct, signIn }: Deps): Listener {
  let server: SMTPServer | undefined;

  function create(credentials: { key: Buffer; cert: Buffer } | undefined): SMTPServer {
    return new SMTPServer({
      name: hostname,
      banner: 'carevault Direct receiver',
      size: MAX_SMTP_BYTES,
      rejectOversized: true,
      authMethods: ['PLAIN', 'LOGIN'],
      authOptional: false,
      authRequiredMessage: "5.7.0 Authentication required: sign in with SMTP AUTH, your app's client id and client secret.",
      allowInsecureAuth: !credentials,
      disabledCommands: credentials ? [] : ['STARTTLS'],
      ...(credentials ?? {}),
      disableReverseLookup: true,
      logger: false,
      maxClients: 100,
      socketTimeout: 60_000,
      closeTimeout: 2_000,

      onAuth(auth, session, callback) {
        signIn.signIn(auth.username ?? '', auth.password ?? '', session.remoteAddress).then(
          (user) => callback(null, { user }),
          (error: unknown) => callback(authReplyOf(error)),
        );
      },

      onRcptTo(address, session, callback) {
        if (session.envelope.rcptTo.length >= MAX_RECIPIENTS) {
          callback(reply(452, `4.5.3 At most ${MAX_RECIPIENTS} recipients per message.`));
          return;
        }
        direct.checkRecipient(senderOf(session).clientId, address.address).then(
          () => callback(),
          (error: unknown) => callback(replyOf(error)),
        );
      },

      onData(stream, session, callback) {
        const sender = senderOf(session);
        const to = session.envelope.rcptTo.map((recipient) => recipient.address);
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined;
        readMessage(stream)
          .then(async (raw) => {
            // Over the limit: smtp-server answers 552 itself (rejectOversized); nothing is parsed.
            if (!raw) return callback();
            const mail = await parseMail(raw);
            const ids = await direct.receiveMail({ kind: 'app', clientId: sender.clientId, address: from || undefined }, to, mail);
            callback(null, `2.0.0 Delivered to ${ids.length} inbox${ids.length === 1 ? '' : 'es'}: ${ids.join(' ')}`);
          })
          .catch((error: unknown) => callback(replyOf(error)));
      },
    });
  }

  return {
    name: 'direct-smtp',
    async start() {
      const credentials = tls ? { key: await readTls(tls.keyFile, 'DIRECT_TLS_KEY'), cert: await readTls(tls.certFile, 'DIRECT_TLS_CERT') } : undefined;
      const smtp = create(credentials);
      smtp.on('error', (error) => log.warn('direct smtp: connection error', { detail: error.message }));
      await new Promise<void>((resolve, reject) => {
        const onError = (error: NodeJS.ErrnoException) =>
          reject(
            new Error(
              error.code === 'EADDRINUSE'
                ? `DIRECT_SMTP_PORT ${port} is already in use`
                : `the Direct SMTP receiver could not listen on port ${port}: ${error.message}`,
            ),
          );
        smtp.server.once('error', onError);
        smtp.listen(port, () => {
          smtp.server.off('error', onError);
          resolve();
        });
      });
      server = smtp;
      log.info('direct smtp receiver listening', { port, starttls: Boolean(credentials) });
    },
    close() {
      const smtp = server;
      server = undefined;
      if (!smtp) return Promise.resolve();
      // Stops listening at once; open sessions get closeTimeout to finish, then 421.
      return new Promise<void>((resolve) => smtp.close(() => resolve()));
    },
  };
}

async function readTls(file: string, setting: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new Error(`${setting} ${file} could not be read: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}
