/**
 * Clinical documents reconciled into a record: a C-CDA kept in the record as a DocumentReference is
 * read again from its stored attachment (never from anything a browser sends back), reviewed —
 * each item new, or already in the record (a code in common and the same day) — and **Add items**
 * writes only the new ones, one Provenance targeting every item made (entity: the
 * DocumentReference; agent: the sender) and one audit line, all in one transaction through the
 * record repository. Reconciling the same document again adds nothing. A file given to Import is
 * read first and kept as a DocumentReference only when it reads. Knows nothing of HTTP.
 * https://hl7.org/fhir/R4/provenance.html
 */
import { createHash } from 'node:crypto';
import { personActor, type Person } from '../accounts/person';
import type { AuditLog } from '../audit/service';
import type { Database } from '../db';
import { Invalid, NotFound } from '../errors';
import { ResourceDeleted, ResourceNotFound } from '../fhir/errors';
import type { RecordRepositories, RecordRepository } from '../fhir/repository';
import type { RecordType } from '../rules/catalogue';
import { CDA_MEDIA_TYPES, inlineClinicalDocument } from '../rules/clinical-document';
import type { Rate } from '../security/limiters';
import { ITEM_KINDS, KIND_HEADINGS, SamenessIndex, samenessOf, type DocumentItem, type ItemKind } from './items';
import { readClinicalDocument, type ReadDocument } from './reading';

type Json = Record<string, unknown>;

/** The record types a document's items become. */
const ITEM_TYPES: readonly RecordType[] = [
  'Condition',
  'MedicationStatement',
  'AllergyIntolerance',
  'Immunization',
  'Observation',
  'DiagnosticReport',
  'Encounter',
  'Procedure',
];

/** How many of the record's items are compared at most (pages of the repository's $everything). */
const COMPARED_AT_MOST = 20_000;

type ReviewedItem = { words: string; isNew: boolean };
type ReviewGroup = { kind: ItemKind; heading: string; items: ReviewedItem[] };

export type Review = {
  documentId: string;
  title: string;
  /** The document's own date (FHIR dateTime), when it states one. */
  date: string | undefined;
  sender: string;
  groups: ReviewGroup[];
  newCount: number;
  skippedSections: string[];
};

/** `readings`: each document read (review, Add items, import) counts against the person's hourly rate, before the work. */
type Deps = { db: Database; repositories: RecordRepositories; audit: AuditLog; readings: Rate; clock?: () => Date };

const text = (value: unknown): string | undefined => (typeof value === 'string' && value.trim() ? value.trim() : undefined);

/** The first inline C-CDA attachment of a DocumentReference, as text. */
function cdaTextOf(document: Json): string | undefined {
  const data = inlineClinicalDocument(document);
  return data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8');
}

/** Who the DocumentReference names as its author (a Direct message's sender), if anyone. */
function authorOf(document: Json): string | undefined {
  const authors = Array.isArray(document.author) ? (document.author as Json[]) : [];
  return text(authors[0]?.display);
}

export function createClinicalDocuments({ db, repositories, audit, readings, clock = () => new Date() }: Deps) {
  /** The DocumentReference `documentId` of the record and its C-CDA text. @throws NotFound; Invalid when it holds no C-CDA. */
  async function storedDocument(repository: RecordRepository, documentId: string): Promise<{ document: Json; xml: string; keptAt: Date }> {
    if (!/^[A-Za-z0-9\-.]{1,64}$/.test(documentId)) throw new NotFound('There is no such document in this record.');
    const stored = await repository.read('DocumentReference', documentId).catch((error: unknown) => {
      if (error instanceof ResourceNotFound || error instanceof ResourceDeleted) throw new NotFound('There is no such document in this record.');
      throw error;
    });
    const xml = cdaTextOf(stored.content);
    if (xml === undefined) throw new Invalid('This document is not a clinical document (C-CDA): there are no items to read from it.', 'not_ccda');
    const first = stored.versionId === 1 ? stored : await repository.readVersion('DocumentReference', documentId, 1).catch(() => stored);
    return { document: stored.content, xml, keptAt: first.lastUpdated };
  }

  /**
   * Who sent the document: the author the DocumentReference names (a Direct message's sender), else
   * the app that put it in the record (a package, a write through /fhir), else the organization the
   * document itself names.
   */
  async function senderOf(recordId: string, stored: { document: Json; keptAt: Date }, read: ReadDocument): Promise<string> {
    const author = authorOf(stored.document);
    if (author) return author;
    const source = await audit.sourceOf(recordId, 'DocumentReference', stored.keptAt);
    return (source?.isApp ? source.by : undefined) ?? read.madeBy ?? source?.by ?? 'an unnamed sender';
  }

  /** The ids of the record's items, found by what a document's item would share with them. */
  async function existingItems(repository: RecordRepository): Promise<SamenessIndex<string>> {
    const found = new SamenessIndex<string>();
    let after: number | undefined;
    let compared = 0;
    do {
      const page = await repository.everything(ITEM_TYPES, { count: 1000, ...(after !== undefined ? { after } : {}) });
      for (const { content } of page.resources) {
        if (content.resourceType === 'Patient') continue;
        compared += 1;
        found.add(String(content.resourceType), samenessOf(content), String(content.id));
      }
      after = page.nextCursor;
    } while (after !== undefined && compared < COMPARED_AT_MOST);
    return found;
  }

  /** The id of the record's item that `item` is the same as, if any. */
  const matchOf = (item: DocumentItem, existing: SamenessIndex<string>) => existing.find(item.type, item.sameness);

  function reviewOf(documentId: string, sender: string, read: ReadDocument, existing: SamenessIndex<string>): Review {
    const groups = ITEM_KINDS.flatMap((kind) => {
      const items = read.items.filter((item) => item.kind === kind);
      return items.length
        ? [{ kind, heading: KIND_HEADINGS[kind], items: items.map((item) => ({ words: item.words, isNew: matchOf(item, existing) === undefined })) }]
        : [];
    });
    return {
      documentId,
      title: read.title,
      date: read.date,
      sender,
      groups,
      newCount: groups.reduce((sum, group) => sum + group.items.filter((item) => item.isNew).length, 0),
      skippedSections: read.skippedSections,
    };
  }

  return {
    /**
     * What the document holds, grouped by kind, each item new or already in the record.
     * @throws NotFound; Invalid when it cannot be read (unsafe, malformed, not C-CDA).
     */
    async review(person: Person, recordId: string, documentId: string): Promise<Review> {
      const repository = repositories.forRecord(recordId, personActor(person), { audited: false });
      const stored = await storedDocument(repositories.forRecord(recordId, personActor(person)), documentId);
      await readings.consume(person.id);
      const read = await readClinicalDocument(stored.xml);
      return reviewOf(documentId, await senderOf(recordId, stored, read), read, await existingItems(repository));
    },

    /**
     * Writes the document's new items, one Provenance for them and one audit line, in one
     * transaction; what is already in the record is left as it is. Run again, it adds nothing.
     * @throws NotFound; Invalid when it cannot be read; InvalidResource should an item not be accepted (nothing written).
     */
    async addItems(person: Person, recordId: string, documentId: string): Promise<{ added: number }> {
      const repository = repositories.forRecord(recordId, personActor(person), { audited: false });
      // Read outside the transaction: the converter runs in a worker, and the database waits for no one.
      const stored = await storedDocument(repository, documentId);
      await readings.consume(person.id);
      const read = await readClinicalDocument(stored.xml);
      const sender = await senderOf(recordId, stored, read);
      return db.transaction(async () => {
        // One reconciliation of a record at a time, so two clicks never add an item twice.
        await db.lock(`clinical-documents:${recordId}`);
        const existing = await existingItems(repository);
        const fresh = read.items.filter((item) => matchOf(item, existing) === undefined);
        if (fresh.length === 0) return { added: 0 };
        // A report's results: the new ones by their new ids, those already in the record by theirs.
        const idFor = new Map(read.items.map((item) => [item.id, matchOf(item, existing) ?? item.id]));
        const repoint = (resource: Json): Json =>
          Array.isArray(resource.result)
            ? {
                ...resource,
                result: (resource.result as { reference: string }[]).map(({ reference }) => ({
                  reference: `Observation/${idFor.get(reference.slice('Observation/'.length)) ?? ''}`,
                })),
              }
            : resource;
        const made: string[] = [];
        for (const item of fresh) {
          await repository.create(item.type, repoint(item.resource), { id: item.id });
          made.push(`${item.type}/${item.id}`);
        }
        const provenance = await repository.create('Provenance', {
          resourceType: 'Provenance',
          target: made.map((reference) => ({ reference })),
          ...(read.date ? { occurredDateTime: read.date } : {}),
          recorded: clock().toISOString(),
          activity: { text: 'Read from a clinical document' },
          agent: [
            {
              type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author', display: 'Author' }] },
              who: { display: sender.slice(0, 500) },
            },
          ],
          entity: [{ role: 'source', what: { reference: `DocumentReference/${documentId}`, display: read.title.slice(0, 500) } }],
        });
        await audit.append({
          recordId,
          kind: 'documents.items_added',
          personId: person.id,
          details: {
            person_name: person.name,
            count: made.length,
            title: read.title.slice(0, 200),
            sender: sender.slice(0, 200),
            document: `DocumentReference/${documentId}`,
            provenance: `Provenance/${String(provenance.content.id)}`,
          },
        });
        return { added: made.length };
      });
    },

    /**
     * Keeps a C-CDA file given to Import as a DocumentReference of the record — only once it reads,
     * so an unsafe, malformed or non-C-CDA file writes nothing — and answers its id for the review.
     * @throws Invalid, DocumentTooLarge (nothing written).
     */
    async keepImported(person: Person, recordId: string, file: { filename: string; contentType: string; content: Buffer }): Promise<{ documentId: string }> {
      await readings.consume(person.id);
      const read = await readClinicalDocument(file.content.toString('utf8'));
      const at = clock().toISOString();
      const created = await db.transaction(async () => {
        const stored = await repositories.forRecord(recordId, personActor(person), { audited: false }).create('DocumentReference', {
          resourceType: 'DocumentReference',
          status: 'current',
          type: { text: 'Clinical document (C-CDA)' },
          date: at,
          description: `${file.filename} · imported by ${person.name}`.slice(0, 1000),
          ...(read.madeBy ? { author: [{ display: read.madeBy.slice(0, 500) }] } : {}),
          content: [
            {
              attachment: {
                contentType: CDA_MEDIA_TYPES.includes(file.contentType) ? file.contentType : 'application/xml',
                data: file.content.toString('base64'),
                title: file.filename,
                size: file.content.length,
                hash: createHash('sha1').update(file.content).digest('base64'),
                creation: at,
              },
            },
          ],
        });
        await audit.append({
          recordId,
          kind: 'documents.imported',
          personId: person.id,
          details: {
            person_name: person.name,
            filename: file.filename,
            title: read.title.slice(0, 200),
            document: `DocumentReference/${String(stored.content.id)}`,
          },
        });
        return stored;
      });
      return { documentId: String(created.content.id) };
    },
  };
}

export type ClinicalDocuments = ReturnType<typeof createClinicalDocuments>;
