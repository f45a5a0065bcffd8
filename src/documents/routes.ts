/**
 * The review of a clinical document kept in a record: `GET /records/:recordId/documents/:id/items`
 * shows what it holds in words, grouped by kind, each item **new** or **already in your record**;
 * **Add items** (`POST` to the same path) writes the new ones and answers 303 back to the review,
 * which then shows them in the record. What is reviewed and added is read again from the stored
 * document each time, never from the form. Only the record's custodians reach it; to anyone else
 * it does not exist (404). Pages are never cached.
 */
import express, { type Request, type Response } from 'express';
import { DomainError, STATUS_OF, TooManyAttempts } from '../errors';
import { sendPage } from '../http/render';
import { requirePerson, signedInPerson } from '../http/require-person';
import type { RecordService, RecordSummary } from '../records/service';
import type { Csrf } from '../security/csrf';
import type { ClinicalDocuments, Review } from './service';

type Deps = { records: RecordService; documents: ClinicalDocuments; csrf: Csrf };

/** Sentences shown after Add items, by the `done` query parameter (never text from the URL). */
const NOTICES: Readonly<Record<string, string>> = {
  added: 'The new items were added to the record.',
  nothing: 'Nothing was added: every item of this document is already in the record.',
};

const DAY = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });

/** "2 March 2026": the day a document states, as written in it (its own time zone). */
function documentDay(date: string | undefined): string | undefined {
  return date && /^\d{4}-\d{2}-\d{2}/.test(date) ? DAY.format(new Date(`${date.slice(0, 10)}T00:00:00Z`)) : undefined;
}

export const reviewPath = (recordId: string, documentId: string) => `/records/${recordId}/documents/${documentId}/items`;

export function documentRoutes({ records, documents, csrf }: Deps): express.Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 5 });

  router.use('/records/:recordId/documents/:id/items', (_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });

  const show = async (res: Response, status: number, record: RecordSummary, review: Review | undefined, options: { error?: string; notice?: string } = {}) =>
    sendPage(res, status, 'documents/review', {
      title: review ? `${review.title} · ${record.name}` : `Clinical document · ${record.name}`,
      record,
      review: review ? { ...review, day: documentDay(review.date) } : undefined,
      action: review ? reviewPath(record.id, review.documentId) : undefined,
      error: options.error,
      notice: options.notice,
    });

  /** A refusal in words on the review page, with its status. */
  const refused = async (res: Response, record: RecordSummary, error: unknown) => {
    if (!(error instanceof DomainError) || error.kind === 'not_found') throw error;
    if (error instanceof TooManyAttempts) res.set('Retry-After', String(error.retryAfterSeconds));
    await show(res, STATUS_OF[error.kind], record, undefined, { error: error.message });
  };

  const recordOf = (req: Request, res: Response) => records.recordFor(signedInPerson(res).id, String(req.params.recordId ?? ''));

  router.get('/records/:recordId/documents/:id/items', requirePerson, csrf.issue, async (req, res) => {
    const record = await recordOf(req, res);
    try {
      const review = await documents.review(signedInPerson(res), record.id, String(req.params.id ?? ''));
      await show(res, 200, record, review, { notice: typeof req.query.done === 'string' ? NOTICES[req.query.done] : undefined });
    } catch (error) {
      await refused(res, record, error);
    }
  });

  router.post('/records/:recordId/documents/:id/items', requirePerson, form, csrf.issue, csrf.verify, async (req, res) => {
    const record = await recordOf(req, res);
    const documentId = String(req.params.id ?? '');
    try {
      const { added } = await documents.addItems(signedInPerson(res), record.id, documentId);
      res.redirect(303, `${reviewPath(record.id, documentId)}?done=${added > 0 ? 'added' : 'nothing'}`);
    } catch (error) {
      await refused(res, record, error);
    }
  });

  return router;
}
