/**
 * One record item in words, for its page: what it is, its value with unit, its status and its
 * dates (FHIR R4 effective[x], issued, recorded/recordedDate/onset, performed[x], occurrence[x]),
 * and for a document its title and attachment. Pure: the page's route reads the resource and its
 * source, this only words what the resource says. https://hl7.org/fhir/R4/observation.html
 */
import { summarize } from '../fhir/summary';

type Json = Record<string, unknown>;

export type ItemFact = { label: string; value: string };
export type ItemAttachment = { title: string; contentType: string | undefined; url: string | undefined };

const text = (value: unknown): string | undefined => (typeof value === 'string' && value.trim() ? value.trim() : undefined);

function conceptText(concept: unknown): string | undefined {
  const value = concept as { text?: unknown; coding?: { display?: unknown; code?: unknown; system?: unknown }[] } | undefined;
  if (text(value?.text)) return text(value?.text);
  const codings = Array.isArray(value?.coding) ? value.coding : [];
  const coding = codings.find((c) => text(c.display)) ?? codings[0];
  return text(coding?.display) ?? text(coding?.code);
}

/** The code itself, for a person who wants to look it up: "8302-2 (http://loinc.org)". */
function codeText(concept: unknown): string | undefined {
  const codings = (concept as { coding?: { code?: unknown; system?: unknown }[] } | undefined)?.coding;
  const coding = Array.isArray(codings) ? codings.find((c) => text(c.code)) : undefined;
  if (!coding) return undefined;
  return text(coding.system) ? `${String(coding.code)} (${String(coding.system)})` : String(coding.code);
}

function quantityText(value: unknown): string | undefined {
  const q = value as { value?: unknown; unit?: unknown; code?: unknown; comparator?: unknown } | undefined;
  if (typeof q?.value !== 'number') return undefined;
  const unit = text(q.unit) ?? text(q.code) ?? '';
  return `${text(q.comparator) ?? ''}${q.value}${unit ? ` ${unit}` : ''}`;
}

const DATE_TIME: Intl.DateTimeFormatOptions = { day: 'numeric', month: 'long', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
const DATE = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });

/** A FHIR date or dateTime in words, a time in `timeZone`; a partial date ("2024-03") as written. */
export function whenText(value: unknown, timeZone: string): string | undefined {
  const raw = text(value);
  if (!raw) return undefined;
  if (/^\d{4}-\d{2}-\d{2}$/.test(raw)) return DATE.format(new Date(`${raw}T00:00:00Z`));
  if (!raw.includes('T')) return raw;
  const at = new Date(raw);
  if (Number.isNaN(at.getTime())) return raw;
  return new Intl.DateTimeFormat('en-GB', { ...DATE_TIME, timeZone }).format(at);
}

/** A period, a dateTime, or nothing. */
function periodText(resource: Json, element: string, timeZone: string): string | undefined {
  const at = whenText(resource[`${element}DateTime`] ?? resource[element], timeZone);
  if (at) return at;
  const period = resource[`${element}Period`] as { start?: unknown; end?: unknown } | undefined;
  if (!period) return undefined;
  const [start, end] = [whenText(period.start, timeZone), whenText(period.end, timeZone)];
  return start && end ? `${start} to ${end}` : start ? `from ${start}` : end ? `until ${end}` : undefined;
}

/** The item's facts in reading order, only those the resource has. */
export function itemFacts(resource: Json, timeZone: string): ItemFact[] {
  const facts: ItemFact[] = [];
  const add = (label: string, value: string | undefined) => {
    if (value) facts.push({ label, value });
  };
  const concept = resource.code ?? resource.vaccineCode ?? resource.medicationCodeableConcept ?? resource.type;
  add('What it is', conceptText(concept) ?? summarize(resource));
  add('Code', codeText(concept));
  add('Value', quantityText(resource.valueQuantity) ?? text(resource.valueString) ?? conceptText(resource.valueCodeableConcept));
  const components = Array.isArray(resource.component) ? (resource.component as Json[]) : [];
  for (const component of components) add(conceptText(component.code) ?? 'Part', quantityText(component.valueQuantity) ?? text(component.valueString));
  add('Status', text(resource.status) ?? conceptText(resource.clinicalStatus));
  add('Verification', conceptText(resource.verificationStatus));
  add('Taken or measured', periodText(resource, 'effective', timeZone));
  add('Began', periodText(resource, 'onset', timeZone));
  add('Done', periodText(resource, 'performed', timeZone));
  add('Given', periodText(resource, 'occurrence', timeZone));
  add('Issued', whenText(resource.issued, timeZone));
  add('Recorded', whenText(resource.recordedDate ?? resource.recorded ?? resource.dateAsserted ?? resource.date, timeZone));
  const note = Array.isArray(resource.note)
    ? (resource.note as { text?: unknown }[])
        .map((n) => text(n.text))
        .filter(Boolean)
        .join(' ')
    : undefined;
  add('Note', note);
  add('Description', text(resource.description));
  return facts;
}

/**
 * A document's attachment (DocumentReference.content[0].attachment), if it has one. An attachment
 * carried inside the resource (`data`) opens at `storedAt`, the record's own document page.
 */
export function attachmentOf(resource: Json, storedAt: string): ItemAttachment | undefined {
  const [first] = Array.isArray(resource.content) ? (resource.content as { attachment?: Json }[]) : [];
  const attachment = first?.attachment;
  if (!attachment) return undefined;
  const url = text(attachment.url);
  return {
    title: text(attachment.title) ?? text(resource.description) ?? 'Attached document',
    contentType: text(attachment.contentType),
    // Only links a person can follow from here: web addresses and carevault's own paths.
    url: url && (/^https?:\/\//.test(url) || (url.startsWith('/') && !url.startsWith('//'))) ? url : text(attachment.data) ? storedAt : undefined,
  };
}
