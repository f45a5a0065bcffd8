/**
 * The record page's "Download my record" and "Import": `GET /records/<id>/download`
 * answers the whole record as a FHIR Bundle file; `POST /records/<id>/import` takes a Bundle file
 * and shows what it would add (nothing is written yet), and `POST /records/<id>/import/confirm`
 * writes it. A file of another kind a feature takes (a clinical document: {@link FileImport}) goes
 * to that feature, which answers where the person continues (303). Only the record's custodians
 * reach these; to anyone else the record does not exist.
 */
import express, { type Request, type Response } from 'express';
import { DomainError, STATUS_OF, TooManyAttempts } from '../errors';
import { BadRequest } from '../http/errors';
import { sendPage } from '../http/render';
import { requirePerson, signedInPerson } from '../http/require-person';
import type { Csrf } from '../security/csrf';
import { importUpload, MAX_IMPORT_BYTES } from './import-upload';
import type { RecordAction } from './access';
import type { Person } from '../accounts/person';
import type { RecordService } from './service';
import { downloadName, type RecordTransfer } from './transfer';

/** A file given to Import, as uploaded. */
type ImportedFile = { filename: string; contentType: string; content: Buffer };

/** A kind of file Import takes besides FHIR Bundles, offered by a feature. */
export type FileImport = {
  /** Whether the file is of its kind (by name, type and first bytes). */
  accepts(file: ImportedFile): boolean;
  /** Reads and keeps it in the record (refusing, with nothing written, what it cannot read); answers the page where the person continues. */
  keep(person: Person, recordId: string, file: ImportedFile): Promise<string>;
};

type Deps = { records: RecordService; transfer: RecordTransfer; csrf: Csrf; fileImports: readonly FileImport[] };

/** A file name as people gave it, for the page and the audit: no paths, no control characters, not too long. */
function cleanFilename(value: unknown): string {
  const name =
    typeof value === 'string'
      ? value
          .replace(/^.*[\\/]/, '')
          .replace(/[\p{Cc}\p{Cf}]/gu, '')
          .trim()
      : '';
  return (name || 'the file').slice(0, 200);
}

export function recordTransferRoutes({ records, transfer, csrf, fileImports }: Deps): express.Router {
  const router = express.Router();
  // The review page carries the file's text back in a hidden field; escaped JSON grows, so room for twice the file.
  const confirmForm = express.urlencoded({ extended: false, limit: MAX_IMPORT_BYTES * 2 + 64 * 1024, parameterLimit: 10 });

  /** The record, when the signed-in person's level allows `action` (reading unless said; importing changes it). */
  const recordFor = (req: Request, res: Response, action: RecordAction = 'read') =>
    records.recordFor(signedInPerson(res).id, String(req.params.id ?? ''), action);

  router.get('/records/:id/download', requirePerson, async (req, res) => {
    const person = signedInPerson(res);
    const record = await recordFor(req, res);
    const bundle = await transfer.download(record.id, person);
    res.attachment(downloadName(record.name, new Date()));
    res.type('application/fhir+json; charset=utf-8').send(JSON.stringify(bundle, null, 2));
  });

  router.post('/records/:id/import', requirePerson, importUpload, csrf.issue, csrf.verify, async (req, res) => {
    const person = signedInPerson(res);
    const record = await recordFor(req, res, 'change');
    const file = (req as Request & { file?: { buffer: Buffer; originalname: string; mimetype: string } }).file;
    if (!file || file.buffer.length === 0) throw new BadRequest('Choose a Bundle file to import.');
    const filename = cleanFilename(file.originalname);
    const text = file.buffer.toString('utf8');
    const imported: ImportedFile = { filename, contentType: file.mimetype, content: file.buffer };
    const taker = fileImports.find((candidate) => candidate.accepts(imported));
    try {
      if (taker) {
        res.redirect(303, await taker.keep(person, record.id, imported));
        return;
      }
      const review = await transfer.review(record.id, person, text);
      await sendPage(res, 200, 'records/import-review', { title: `Import into ${record.name}`, record, filename, text, review, error: undefined });
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      if (error instanceof TooManyAttempts) res.set('Retry-After', String(error.retryAfterSeconds));
      await sendPage(res, STATUS_OF[error.kind], 'records/import-review', {
        title: `Import into ${record.name}`,
        record,
        filename,
        text: undefined,
        review: undefined,
        error: error.message,
      });
    }
  });

  router.post('/records/:id/import/confirm', requirePerson, confirmForm, csrf.issue, csrf.verify, async (req, res) => {
    const person = signedInPerson(res);
    const record = await recordFor(req, res, 'change');
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (typeof body.bundle !== 'string' || body.bundle === '') throw new BadRequest('The import form is incomplete: choose the file again on the record page.');
    const filename = cleanFilename(body.filename);
    try {
      const count = await transfer.import(record.id, person, body.bundle, filename);
      await sendPage(res, 200, 'records/imported', { title: `Imported into ${record.name}`, record, filename, count });
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      if (error instanceof TooManyAttempts) res.set('Retry-After', String(error.retryAfterSeconds));
      await sendPage(res, STATUS_OF[error.kind], 'records/import-review', {
        title: `Import into ${record.name}`,
        record,
        filename,
        text: undefined,
        review: undefined,
        error: error.message,
      });
    }
  });

  return router;
}
