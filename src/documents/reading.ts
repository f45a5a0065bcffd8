/**
 * Reading a C-CDA R2.1 document into record items, safely. In this order, nothing written on any
 * refusal:
 * 1. at most {@link MAX_DOCUMENT_BYTES}; no `<!DOCTYPE` or `<!ENTITY` anywhere (refused before any
 *    parser sees the text, rather than trusting a parser's entity settings: no external entities,
 *    no entity expansion);
 * 2. well-formed XML (fast-xml-parser's validator, naming the line), whose root is a
 *    `ClinicalDocument` carrying a C-CDA document template (2.16.840.1.113883.10.20.22.1.*);
 * 3. at most {@link MAX_ENTRIES} entries;
 * 4. converted by `@medplum/ccda` in a worker (converter.ts), then each resource rebuilt from what
 *    the record keeps (items.ts) — correcting what the converter gets wrong.
 * https://hl7.org/cda/us/ccda/ · https://www.hl7.org/implement/standards/product_brief.cfm?product_id=492
 */
import { XMLValidator } from 'fast-xml-parser';
import { DomainError, Invalid } from '../errors';
import { convertInWorker } from './converter';
import { itemsOf, type DocumentItem } from './items';
import { concernProblems, documentHeader, entryCount, isCcda, type DocumentHeader } from './source';

/** The largest document read, as for an import's file and a transaction Bundle. */
export const MAX_DOCUMENT_BYTES = 5 * 1024 * 1024;

/** The most entries one document may hold. */
const MAX_ENTRIES = 5000;

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
  const checked = XMLValidator.validate(xml);
  if (checked !== true) {
    throw new Invalid(`The document is not well-formed XML (line ${checked.err.line}: ${checked.err.msg}), so nothing was added.`, 'malformed_document');
  }
  const converted = await convertInWorker(xml);
  const document = converted.document;
  if (!document || !isCcda(document)) {
    throw new Invalid('The file is XML but not a clinical document (C-CDA R2.1 ClinicalDocument), so nothing was added.', 'not_ccda');
  }
  if (entryCount(document) > MAX_ENTRIES) {
    throw new Invalid(`The document holds more than ${MAX_ENTRIES} entries, more than carevault reads at once. Nothing was added.`, 'too_many_entries');
  }
  return {
    ...documentHeader(document),
    items: itemsOf(converted.resources, concernProblems(document)),
    skippedSections: converted.skippedSections,
  };
}
