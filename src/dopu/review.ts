/**
 * What is inside a package, in plain words by type, for the person to review before Accept
 * (e.g. "3 observations: Body weight — 72 kg on 2 Jan 2026 …"). Lines come from the same
 * summaries the record page uses (fhir/summary.ts), with the date each resource is about, and for
 * documents the files they carry.
 */
import { dateOf } from '../fhir/indexing';
import { summarize } from '../fhir/summary';
import { RECORD_TYPES, countOf } from '../rules/catalogue';
import { CDA_MEDIA_TYPES } from '../rules/clinical-document';
import type { PackageResource } from './contents';

export type ReviewGroup = { heading: string; items: string[] };

const DAY = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });

/** "2 Jan 2026". */
export function dayOf(date: Date): string {
  return DAY.format(date);
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

const FILE_KINDS: Readonly<Record<string, string>> = {
  'application/pdf': 'PDF',
  'text/plain': 'text',
  'image/jpeg': 'JPEG image',
  'image/png': 'PNG image',
  // Once accepted, its items are reviewed one by one before any is added.
  ...Object.fromEntries(CDA_MEDIA_TYPES.map((type) => [type, 'clinical document, whose items you review after Accept'])),
};

/** "letter.pdf (PDF, 12 KB)" for each attachment of a DocumentReference. */
function files(resource: PackageResource): string[] {
  const content = Array.isArray(resource.content) ? (resource.content as { attachment?: Record<string, unknown> }[]) : [];
  return content.flatMap(({ attachment }) => {
    if (!attachment) return [];
    const kind = typeof attachment.contentType === 'string' ? (FILE_KINDS[attachment.contentType.split(';')[0] ?? ''] ?? attachment.contentType) : 'file';
    const bytes =
      typeof attachment.data === 'string' ? Buffer.byteLength(attachment.data, 'base64') : typeof attachment.size === 'number' ? attachment.size : undefined;
    const title = typeof attachment.title === 'string' && attachment.title.trim() ? attachment.title.trim() : 'a file';
    return [`${title} (${kind}${bytes !== undefined ? `, ${size(bytes)}` : ''})`];
  });
}

function line(resource: PackageResource): string {
  const date = dateOf(resource);
  const attached = files(resource);
  return `${summarize(resource)}${date ? ` on ${dayOf(date)}` : ''}${attached.length ? `, with ${attached.join(' and ')}` : ''}`;
}

/** The package's resources grouped by type, in the catalogue's order. */
export function reviewOf(resources: readonly PackageResource[]): ReviewGroup[] {
  return RECORD_TYPES.flatMap((type) => {
    const ofType = resources.filter((resource) => resource.resourceType === type);
    return ofType.length ? [{ heading: countOf(type, ofType.length), items: ofType.map(line) }] : [];
  });
}

/** "3 items". */
export function itemsOf(count: number): string {
  return `${count} ${count === 1 ? 'item' : 'items'}`;
}
