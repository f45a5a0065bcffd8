/**
 * `/inbox`: one inbox per record the person holds — only its custodians see it, to anyone else it
 * does not exist (404). The list (unread first), a message (its text only, escaped, links inert:
 * HTML from a message is never shown), downloading an attachment, **Add to record** (a clinical
 * document then goes on to the review of its items, `/records/:id/documents/:id/items`), deleting
 * (confirmed on a page naming the message, then "Deleted '…'. Undo" for UNDO_MINUTES), **Reply**
 * (to members' Direct addresses: apps have none that receives), **Send** (fields To, Subject,
 * Message, files) to another carevault address, and **Sent**. Every form answers with a redirect
 * to a page showing the state as it is; pages are never cached.
 */
import express, { type Request, type Response } from 'express';
import { DomainError, STATUS_OF, TooManyAttempts } from '../errors';
import { firstMessage } from '../http/forms';
import { sendPage } from '../http/render';
import { requirePerson, signedInPerson } from '../http/require-person';
import { allows, type RecordAction } from '../records/access';
import type { RecordService, RecordSummary } from '../records/service';
import type { Csrf } from '../security/csrf';
import { kindLabel, kindOfStored } from './attachments';
import { sendFormParser } from './multipart';
import { shownSender } from './senders';
import { sendForm } from './schemas';
import type { DirectService } from './service';
import { TooLateToUndo, UNDO_MINUTES } from './inbox';

type Deps = { records: RecordService; direct: DirectService; csrf: Csrf };

/** Sentences shown after an action, by the `done` query parameter (never text from the URL). */
const NOTICES: Readonly<Record<string, string>> = {
  sent: 'Your message was sent.',
  deleted: 'The message was deleted.',
  filed: 'The attachment was added to the record as a document.',
  'already-filed': 'That attachment is already in the record.',
  restored: 'The message is back in the inbox.',
};

/** "Re: <subject>", once. */
function replySubject(subject: string): string {
  return /^re:/i.test(subject.trim()) ? subject : `Re: ${subject}`.slice(0, 200);
}

const timeWords = (at: Date) => `${at.toISOString().replace('T', ' ').slice(0, 16)} UTC`;

function noticeOf(req: Request): string | undefined {
  return typeof req.query.done === 'string' ? NOTICES[req.query.done] : undefined;
}

function sizeWords(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function inboxRoutes({ records, direct, csrf }: Deps): express.Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 10 });

  // Messages are health information: no copies in browser or proxy caches.
  router.use('/inbox', (_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });

  /**
   * The record of `:recordId`, when the signed-in person holds it (else 404) at a level that allows
   * `action` (else 403): any level reads the inbox; sending, filing and deleting change the record.
   */
  const recordOf = (req: Request, res: Response, action: RecordAction = 'read') =>
    records.recordFor(signedInPerson(res).id, String(req.params.recordId ?? ''), action);

  const inboxUrl = (record: RecordSummary) => `/inbox/${record.id}`;

  const showInbox = async (
    req: Request,
    res: Response,
    record: RecordSummary,
    options: { status?: number; values?: Record<string, string>; error?: string } = {},
  ) => {
    const held = await records.recordsOf(signedInPerson(res).id);
    // "Deleted '…'. Undo" as the message stands now: still undoable, gone for good, or back already.
    const deleted = typeof req.query.deleted === 'string' ? await direct.deleted(record.id, req.query.deleted) : undefined;
    const replyTo = typeof req.query.reply === 'string' && !options.values ? await direct.replyTo(record.id, req.query.reply) : undefined;
    const values = options.values ?? (replyTo ? { to: replyTo.address, subject: replySubject(replyTo.subject) } : {});
    const [addresses, unread, messages] = await Promise.all([
      direct.addressesOf(held),
      direct.unreadCounts(held.map((item) => item.id)),
      direct.inbox(record.id),
    ]);
    await sendPage(res, options.status ?? 200, 'direct/inbox', {
      title: `Inbox of ${record.name}`,
      record,
      address: addresses.get(record.id),
      inboxes: held.map((item) => ({ ...item, address: addresses.get(item.id), unread: unread.get(item.id) ?? 0, current: item.id === record.id })),
      messages: messages.map((message) => ({ ...message, sender: shownSender(message) })),
      values,
      replying: replyTo !== undefined,
      deleted: deleted?.undoUntil ? { ...deleted, undoUntil: timeWords(deleted.undoUntil) } : undefined,
      // Undo came too late, or the page was reloaded after the message's time ran out.
      tooLate: (deleted && !deleted.undoUntil) || (req.query.late === '1' && !deleted) ? new TooLateToUndo(deleted?.subject).message : undefined,
      undoMinutes: UNDO_MINUTES,
      mayChange: allows(record.access, 'change'),
      error: options.error,
      notice: options.error ? undefined : noticeOf(req),
    });
  };

  router.get('/inbox', requirePerson, csrf.issue, async (req, res) => {
    const [own] = await records.recordsOf(signedInPerson(res).id);
    if (!own) {
      await sendPage(res, 200, 'pages/message', { title: 'Inbox', message: 'You hold no record yet, so there is no inbox.' });
      return;
    }
    await showInbox(req, res, own);
  });

  router.get('/inbox/:recordId', requirePerson, csrf.issue, async (req, res) => {
    await showInbox(req, res, await recordOf(req, res));
  });

  router.post('/inbox/:recordId/send', requirePerson, sendFormParser, csrf.issue, csrf.verify, async (req, res) => {
    const person = signedInPerson(res);
    const record = await recordOf(req, res, 'change');
    const body = (req.body ?? {}) as Record<string, unknown>;
    const values = Object.fromEntries(['to', 'subject', 'message'].map((key) => [key, typeof body[key] === 'string' ? (body[key] as string) : '']));
    const input = sendForm.safeParse(body);
    if (!input.success) {
      await showInbox(req, res, record, { status: 400, values, error: firstMessage(input.error) });
      return;
    }
    const files = (Array.isArray(req.files) ? req.files : []) as Express.Multer.File[];
    try {
      await direct.sendFromInbox({ kind: 'person', person, record }, input.data.to, {
        subject: input.data.subject,
        text: input.data.message,
        attachments: files.map((file) => ({ filename: file.originalname, contentType: file.mimetype, content: file.buffer })),
      });
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      if (error instanceof TooManyAttempts) res.set('Retry-After', String(error.retryAfterSeconds));
      const again = files.length ? ' Nothing was sent: attach the files again.' : ' Nothing was sent.';
      await showInbox(req, res, record, { status: STATUS_OF[error.kind], values, error: `${error.message}${again}` });
      return;
    }
    res.redirect(303, `${inboxUrl(record)}?done=sent`);
  });

  router.get('/inbox/:recordId/messages/:messageId', requirePerson, csrf.issue, async (req, res) => {
    const record = await recordOf(req, res);
    const { message, attachments } = await direct.open(record.id, String(req.params.messageId));
    const addresses = await direct.addressesOf([record]);
    await sendPage(res, 200, 'direct/message', {
      title: message.subject || '(no subject)',
      record,
      address: addresses.get(record.id),
      message,
      sender: shownSender(message),
      canReply: allows(record.access, 'change') && (await direct.replyTo(record.id, message.id)) !== undefined,
      mayChange: allows(record.access, 'change'),
      attachments: attachments.map((attachment) => {
        const kind = kindOfStored(attachment.content_type);
        return { ...attachment, kind: kind ? kindLabel(kind) : attachment.content_type, size: sizeWords(attachment.size_bytes) };
      }),
      notice: noticeOf(req),
    });
  });

  router.get('/inbox/:recordId/messages/:messageId/attachments/:attachmentId', requirePerson, async (req, res) => {
    const record = await recordOf(req, res);
    const attachment = await direct.attachment(record.id, String(req.params.messageId), String(req.params.attachmentId));
    // Always a download, of the type it was stored as, never sniffed or run as a page.
    res.attachment(attachment.filename);
    res.set({
      'Content-Type': attachment.content_type,
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': "sandbox; default-src 'none'",
    });
    res.send(attachment.content);
  });

  router.post('/inbox/:recordId/messages/:messageId/attachments/:attachmentId/file', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    const person = signedInPerson(res);
    const record = await recordOf(req, res, 'change');
    const messageId = String(req.params.messageId);
    const { already, kind, resourceId } = await direct.file(person, record.id, messageId, String(req.params.attachmentId));
    // A clinical document goes on to the review of its items (the clinical documents' page), filed or filed before.
    if (kind === 'cda') return res.redirect(303, `/records/${record.id}/documents/${resourceId}/items`);
    res.redirect(303, `${inboxUrl(record)}/messages/${messageId}?done=${already ? 'already-filed' : 'filed'}`);
  });

  // Delete asks first, naming the message; once deleted it can be brought back for a while.
  router.get('/inbox/:recordId/messages/:messageId/delete', requirePerson, csrf.issue, async (req, res) => {
    const record = await recordOf(req, res, 'change');
    const { message } = await direct.open(record.id, String(req.params.messageId));
    await sendPage(res, 200, 'direct/delete', { title: 'Delete this message?', record, message, sender: shownSender(message), undoMinutes: UNDO_MINUTES });
  });

  router.post('/inbox/:recordId/messages/:messageId/delete', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    const person = signedInPerson(res);
    const record = await recordOf(req, res, 'change');
    const messageId = String(req.params.messageId);
    await direct.remove(person, record.id, messageId);
    res.redirect(303, `${inboxUrl(record)}?deleted=${encodeURIComponent(messageId)}`);
  });

  router.post('/inbox/:recordId/messages/:messageId/restore', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    const person = signedInPerson(res);
    const record = await recordOf(req, res, 'change');
    const messageId = String(req.params.messageId);
    try {
      await direct.restore(person, record.id, messageId);
    } catch (error) {
      if (!(error instanceof TooLateToUndo)) throw error;
      res.redirect(303, `${inboxUrl(record)}?deleted=${encodeURIComponent(messageId)}&late=1`);
      return;
    }
    res.redirect(303, `${inboxUrl(record)}/messages/${encodeURIComponent(messageId)}?done=restored`);
  });

  router.get('/inbox/:recordId/sent', requirePerson, csrf.issue, async (req, res) => {
    const record = await recordOf(req, res);
    const sent = await direct.sent(record.id);
    await sendPage(res, 200, 'direct/sent', { title: `Sent from ${record.name}`, record, sent: sent.map((row) => ({ ...row, at: timeWords(row.sent_at) })) });
  });

  return router;
}
