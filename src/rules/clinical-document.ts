/**
 * What makes a DocumentReference a clinical document carevault can read into items: an inline
 * attachment (`content.attachment.data`) of one of the media types a C-CDA comes as. One rule for
 * every place that hands such a document on to its review (a pickup, the clinical documents' pages).
 * https://hl7.org/fhir/R4/documentreference.html · https://hl7.org/cda/us/ccda/
 */
type Json = Record<string, unknown>;

/** The media types a C-CDA document comes as. */
export const CDA_MEDIA_TYPES: readonly string[] = ['application/xml', 'text/xml', 'application/cda+xml', 'application/hl7-cda+xml', 'application/hl7-v3+xml'];

/** The base64 data of a DocumentReference's first inline C-CDA attachment, or `undefined`. */
export function inlineClinicalDocument(resource: Json): string | undefined {
  if (resource.resourceType !== 'DocumentReference' || !Array.isArray(resource.content)) return undefined;
  const attachment = (resource.content as Json[])
    .map((entry) => entry?.attachment as Json | undefined)
    .find(
      (candidate) => typeof candidate?.data === 'string' && CDA_MEDIA_TYPES.includes(String(candidate.contentType).split(';')[0]?.trim().toLowerCase() ?? ''),
    );
  return attachment?.data as string | undefined;
}
