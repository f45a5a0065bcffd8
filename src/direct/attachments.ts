/**
 * Which attachments a Direct message may carry: PDF, PNG, JPEG, plain text, C-CDA/CDA
 * XML and FHIR JSON — and only when the content is what its type says (a "PDF" must start like
 * one; XML must be a CDA ClinicalDocument; JSON must be a FHIR resource). Anything else is refused
 * with the reason, and the whole message with it. Also the counts and the 25 MB limit.
 * Pure: no database, no HTTP.
 */
import { MAX_ATTACHMENTS, MAX_FILENAME_CHARS, MAX_MESSAGE_BYTES, MAX_MESSAGE_WORDS } from './limits';
import { MessageTooLarge, RefusedAttachment, RefusedMessage } from './errors';

export type AttachmentKind = 'pdf' | 'png' | 'jpeg' | 'text' | 'cda' | 'fhir';

/** As it arrives: a name, a declared type, the bytes. */
export type IncomingAttachment = { filename: string; contentType: string; content: Buffer };

/** As it is kept: a clean name, the type it is stored and served with, its kind. */
export type CheckedAttachment = { filename: string; contentType: string; kind: AttachmentKind; content: Buffer };

type KindRule = {
  /** How people call it, in refusals and on the pages. */
  label: string;
  /** Declared types accepted for this kind. */
  types: readonly string[];
  /** Names' extensions of this kind; the first is added to a name that has none of them. */
  extensions: readonly string[];
  /** Whether the bytes are this kind. */
  matches(content: Buffer): boolean;
  /** The type to store and serve, from the declared one. */
  storedType(declared: string, charset: string | undefined): string;
};

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function withoutBom(content: Buffer): string {
  return content.toString('utf8').replace(/^\uFEFF/, '');
}

/**
 * A CDA document: the root element is `ClinicalDocument` in the HL7 v3 namespace. Only the
 * prolog and the root's start tag are looked at (nothing is parsed or resolved); a DOCTYPE is
 * refused, as CDA has none.
 */
function isCda(content: Buffer): boolean {
  const head = withoutBom(content.subarray(0, 64 * 1024));
  const prolog = /^\s*(?:<\?xml[^>]*\?>\s*)?(?:(?:<!--[\s\S]*?-->|<\?[\s\S]*?\?>)\s*)*<(?:([A-Za-z_][\w.-]*):)?ClinicalDocument(?=[\s/>])([^>]*)>/.exec(head);
  if (!prolog) return false;
  const prefix = prolog[1];
  const attributes = prolog[2] ?? '';
  const namespace = new RegExp(`\\bxmlns${prefix ? `:${prefix}` : ''}\\s*=\\s*["']urn:hl7-org:v3["']`);
  return namespace.test(attributes);
}

function isFhirJson(content: Buffer): boolean {
  try {
    const parsed = JSON.parse(withoutBom(content)) as unknown;
    return (
      Boolean(parsed) &&
      typeof parsed === 'object' &&
      !Array.isArray(parsed) &&
      /^[A-Z][A-Za-z]{1,63}$/.test(String((parsed as { resourceType?: unknown }).resourceType ?? ''))
    );
  } catch {
    return false;
  }
}

const KINDS: Readonly<Record<AttachmentKind, KindRule>> = {
  pdf: {
    label: 'PDF',
    types: ['application/pdf'],
    extensions: ['pdf'],
    // PDF readers accept the header anywhere in the first 1024 bytes.
    matches: (content) => content.subarray(0, 1024).includes('%PDF-'),
    storedType: () => 'application/pdf',
  },
  png: {
    label: 'PNG image',
    types: ['image/png'],
    extensions: ['png'],
    matches: (content) => content.subarray(0, 8).equals(PNG_SIGNATURE),
    storedType: () => 'image/png',
  },
  jpeg: {
    label: 'JPEG image',
    types: ['image/jpeg', 'image/jpg', 'image/pjpeg'],
    extensions: ['jpg', 'jpeg'],
    matches: (content) => content.length >= 3 && content[0] === 0xff && content[1] === 0xd8 && content[2] === 0xff,
    storedType: () => 'image/jpeg',
  },
  text: {
    label: 'plain text',
    types: ['text/plain'],
    extensions: ['txt', 'text'],
    matches: (content) => !content.includes(0),
    storedType: (_declared, charset) => `text/plain; charset=${charset ?? 'utf-8'}`,
  },
  cda: {
    label: 'C-CDA/CDA document (XML)',
    types: ['application/xml', 'text/xml', 'application/cda+xml', 'application/hl7-cda+xml', 'application/hl7-v3+xml'],
    extensions: ['xml', 'cda', 'ccda'],
    matches: isCda,
    storedType: (declared) => (declared === 'application/octet-stream' ? 'application/xml' : declared),
  },
  fhir: {
    label: 'FHIR resource (JSON)',
    types: ['application/fhir+json', 'application/json'],
    extensions: ['json'],
    matches: isFhirJson,
    storedType: () => 'application/fhir+json',
  },
};

export const ACCEPTED_WORDS = 'PDF, PNG, JPEG, plain text, C-CDA/CDA (XML) or FHIR (JSON)';

/** The media type without parameters, lower-case; and its charset, when it names a sane one. */
function parseType(contentType: string): { essence: string; charset: string | undefined } {
  const [essence = '', ...parameters] = contentType.split(';').map((part) => part.trim());
  const charset = parameters
    .map((parameter) => /^charset\s*=\s*"?([A-Za-z0-9_.:-]{1,40})"?$/i.exec(parameter)?.[1])
    .find(Boolean)
    ?.toLowerCase();
  return { essence: essence.toLowerCase(), charset };
}

function extensionOf(filename: string): string {
  const dot = filename.lastIndexOf('.');
  return dot >= 0 ? filename.slice(dot + 1).toLowerCase() : '';
}

/**
 * Characters a name never keeps: controls (Cc) and format characters (Cf) — among them the
 * bidirectional overrides and isolates that make "scan\u202Efdp.js" show as "scansj.pdf", and
 * zero-width ones that hide what a name says.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}]/gu;

/**
 * A filename safe to keep and show: no folders, no control or format characters, no leading or
 * trailing dots, at most 200 characters (keeping the extension); `attachment-<n>` when nothing is
 * left. Pages escape it anyway.
 */
export function cleanFilename(raw: string, position: number): string {
  const base = (raw.toWellFormed().normalize('NFC').split(/[\\/]/).pop() ?? '')
    .replace(INVISIBLE, '')
    .replace(/\s+/g, ' ')
    .replace(/^[\s.]+|[\s.]+$/g, '');
  if (!base) return `attachment-${position + 1}`;
  if (base.length <= MAX_FILENAME_CHARS) return base;
  const extension = extensionOf(base).slice(0, 10);
  const keep = MAX_FILENAME_CHARS - (extension ? extension.length + 1 : 0);
  return `${base.slice(0, keep)}${extension ? `.${extension}` : ''}`;
}

/**
 * The name an attachment is kept and served under: clean, and ending with an extension of the
 * kind its content was checked to be — `.pdf` for a PDF whatever it was called (`scan.js` →
 * `scan.js.pdf`), so what opens it is what the check allowed.
 */
export function storedFilename(raw: string, kind: AttachmentKind, position: number): string {
  const clean = cleanFilename(raw, position);
  const rule = KINDS[kind];
  if (rule.extensions.includes(extensionOf(clean))) return clean;
  const [extension] = rule.extensions;
  const base = clean.slice(0, MAX_FILENAME_CHARS - String(extension).length - 1).replace(/[\s.]+$/, '');
  return `${base}.${extension}`;
}

/** The kind a declared type (or, for `application/octet-stream`, the file's extension) names. */
function kindOf(essence: string, filename: string): AttachmentKind | undefined {
  const byType = (Object.keys(KINDS) as AttachmentKind[]).find((kind) => KINDS[kind].types.includes(essence));
  if (byType || essence !== 'application/octet-stream') return byType;
  const extension = extensionOf(filename);
  return (Object.keys(KINDS) as AttachmentKind[]).find((kind) => KINDS[kind].extensions.includes(extension));
}

/**
 * Checks one attachment.
 * @throws RefusedAttachment naming the file and the reason.
 */
export function checkAttachment(attachment: IncomingAttachment, position: number): CheckedAttachment {
  const filename = cleanFilename(attachment.filename, position);
  const { essence, charset } = parseType(attachment.contentType);
  const kind = kindOf(essence, filename);
  if (!kind) {
    const what = essence === 'application/octet-stream' ? 'of an unknown type' : `of type ${essence || 'unknown'}`;
    throw new RefusedAttachment(`The attachment "${filename}" is ${what}, which carevault does not accept: attach ${ACCEPTED_WORDS}.`);
  }
  const rule = KINDS[kind];
  if (!rule.matches(attachment.content)) {
    const reason =
      kind === 'cda'
        ? 'is not a CDA document (its root element must be ClinicalDocument in the urn:hl7-org:v3 namespace)'
        : `is not ${/^[aeiou]/i.test(rule.label) ? 'an' : 'a'} ${rule.label}, though its type says so`;
    throw new RefusedAttachment(`The attachment "${filename}" ${reason}.`);
  }
  return { filename: storedFilename(filename, kind, position), contentType: rule.storedType(essence, charset), kind, content: attachment.content };
}

/** The kind of an attachment already stored (by the type it was stored with). */
export function kindOfStored(contentType: string): AttachmentKind | undefined {
  return kindOf(parseType(contentType).essence, '');
}

/** The name of an attachment already stored, by the same rule as a new one's (for names kept before it). */
export function storedNameOf(filename: string, contentType: string): string {
  const kind = kindOfStored(contentType);
  return kind ? storedFilename(filename, kind, 0) : cleanFilename(filename, 0);
}

export function kindLabel(kind: AttachmentKind): string {
  return KINDS[kind].label;
}

/**
 * Checks a whole message's attachments and size: at most 20 attachments, 25 MB with the text.
 * @throws RefusedMessage, MessageTooLarge or RefusedAttachment (for the first bad attachment).
 */
export function checkAttachments(attachments: readonly IncomingAttachment[], textBytes: number): CheckedAttachment[] {
  if (attachments.length > MAX_ATTACHMENTS) {
    throw new RefusedMessage(`A message can carry at most ${MAX_ATTACHMENTS} attachments; this one has ${attachments.length}.`);
  }
  const total = attachments.reduce((sum, attachment) => sum + attachment.content.length, textBytes);
  if (total > MAX_MESSAGE_BYTES) {
    throw new MessageTooLarge(`The message is over ${MAX_MESSAGE_WORDS} (${(total / 1024 / 1024).toFixed(1)} MB with its attachments): send it in parts.`);
  }
  return attachments.map((attachment, position) => checkAttachment(attachment, position));
}
