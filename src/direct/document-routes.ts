/**
 * A document in a record, opened from the record page: `/records/:recordId/documents/:id` says what
 * it is in words (its file name, who sent it, when it was filed) and offers the file;
 * `…/file` downloads it. Any DocumentReference whose attachment is stored inline (filed from a
 * message, picked up in a package, written by an app) opens here. Only the record's custodians see
 * it: to anyone else it does not exist (404). Read through the record repository, so each read is
 * on the record's history like any other.
 * https://hl7.org/fhir/R4/documentreference.html
 */
import express, { type Request, type Response } from 'express';
import { personActor } from '../accounts/person';
import { NotFound } from '../errors';
import { ResourceDeleted, ResourceNotFound } from '../fhir/errors';
import type { RecordRepositories } from '../fhir/repository';
import { sendPage } from '../http/render';
import { requirePerson, signedInPerson } from '../http/require-person';
import type { RecordService } from '../records/service';
import type { Csrf } from '../security/csrf';
import { kindLabel, kindOfStored, storedNameOf } from './attachments';

type Deps = { records: RecordService; repositories: RecordRepositories; csrf: Csrf };

type Json = Record<string, unknown>;

const text = (value: unknown): string | undefined => (typeof value === 'string' && value.trim() !== '' ? value : undefined);

/** The UTC day of a FHIR instant; one JavaScript cannot read (a leap second, :60, is valid FHIR) as written. */
function dayOf(instant: string): string {
  const at = new Date(instant);
  return Number.isNaN(at.getTime()) ? instant.slice(0, 10) : at.toISOString().slice(0, 10);
}

/** The document's words and its first inline attachment, or `undefined` when it has none. */
function documentOf(resource: Json) {
  const content = Array.isArray(resource.content) ? (resource.content as Json[]) : [];
  const attachment = content.map((entry) => entry.attachment as Json | undefined).find((candidate) => typeof candidate?.data === 'string');
  const author = Array.isArray(resource.author) ? text((resource.author as Json[])[0]?.display) : undefined;
  const type = resource.type as Json | undefined;
  return {
    description: text(resource.description),
    kind: text(type?.text),
    author,
    date: text(resource.date),
    attachment: attachment
      ? { contentType: text(attachment.contentType) ?? 'application/octet-stream', title: text(attachment.title), data: attachment.data as string }
      : undefined,
  };
}

export function documentRoutes({ records, repositories, csrf }: Deps): express.Router {
  const router = express.Router();
  router.use('/records/:recordId/documents', (_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });

  const read = async (req: Request, res: Response) => {
    const person = signedInPerson(res);
    const record = await records.recordFor(person.id, String(req.params.recordId ?? ''));
    const id = String(req.params.id ?? '');
    if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id)) throw new NotFound('There is no such document in this record.');
    const stored = await repositories
      .forRecord(record.id, personActor(person))
      .read('DocumentReference', id)
      .catch((error: unknown) => {
        // Missing or deleted: the same words as any other document that is not there.
        if (error instanceof ResourceNotFound || error instanceof ResourceDeleted) throw new NotFound('There is no such document in this record.');
        throw error;
      });
    return { record, id, document: documentOf(stored.content as Json) };
  };

  const fileNameOf = (attachment: { title: string | undefined; contentType: string }) => storedNameOf(attachment.title ?? 'document', attachment.contentType);

  router.get('/records/:recordId/documents/:id', requirePerson, csrf.issue, async (req, res) => {
    const { record, id, document } = await read(req, res);
    const kind = document.attachment ? kindOfStored(document.attachment.contentType) : undefined;
    await sendPage(res, 200, 'direct/document', {
      title: document.attachment?.title ?? document.description ?? 'Document',
      record,
      document,
      fileName: document.attachment ? fileNameOf(document.attachment) : undefined,
      kindWords: kind ? kindLabel(kind) : document.kind,
      filed: document.date ? dayOf(document.date) : undefined,
      href: `/records/${record.id}/documents/${id}/file`,
      // A clinical document's items are reviewed on the clinical documents' page.
      itemsHref: kind === 'cda' ? `/records/${record.id}/documents/${id}/items` : undefined,
    });
  });

  router.get('/records/:recordId/documents/:id/file', requirePerson, async (req, res) => {
    const { document } = await read(req, res);
    if (!document.attachment) throw new NotFound('This document has no file stored in carevault.');
    // Always a download, of the type it was stored as, never sniffed or run as a page.
    res.attachment(fileNameOf(document.attachment));
    res.set({ 'Content-Type': document.attachment.contentType, 'X-Content-Type-Options': 'nosniff', 'Content-Security-Policy': "sandbox; default-src 'none'" });
    res.send(Buffer.from(document.attachment.data, 'base64'));
  });

  return router;
}
