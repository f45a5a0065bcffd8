/**
 * Runs `@medplum/ccda` (C-CDA XML → FHIR R4 Bundle) off the event loop: in a worker thread with a
 * time limit, so a large or pathological document never stalls other requests. The worker checks
 * that the text is well-formed XML (fast-xml-parser's validator), parses it (fast-xml-parser,
 * through the library) and converts it, on a copy reshaped where the library throws on real
 * documents: a header with one participant (a discharge summary's caregiver, say), admission and
 * discharge diagnosis sections, a discharge medications section. Should the whole document still
 * throw, each section is converted on its own and the ones that throw are left out, named. The worker hands
 * back the parsed document too, so reading.ts can correct what the converter gets wrong from the
 * source. The caller has already refused DTDs, entities and oversized input (reading.ts).
 * https://github.com/medplum/medplum/tree/main/packages/ccda
 */
import { Worker } from 'node:worker_threads';
import { Invalid } from '../errors';

type Json = Record<string, unknown>;

/**
 * What the worker answers: the parsed ClinicalDocument, the converted resources, and the sections it
 * could not convert — or, for text that is not well-formed XML, where and why.
 */
type Converted = { document: Json | undefined; resources: Json[]; skippedSections: string[]; malformed?: { line: number; message: string } };

/** How long one document may take to read before it is given up. */
const READ_TIME_LIMIT_MS = 15_000;

/**
 * The worker's code: plain CommonJS (it runs the same under Jest and from dist/), given the
 * library's resolved path so it never depends on the working directory.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ccdaLibrary = require(workerData.library);
const { XMLValidator } = require(workerData.validator);
const rootsOf = (node) => (Array.isArray(node.templateId) ? node.templateId : node.templateId ? [node.templateId] : []).map((template) => template['@_root']);
const listOf = (value) => (Array.isArray(value) ? value : value ? [value] : []);
const DIAGNOSIS_SECTIONS = ['2.16.840.1.113883.10.20.22.2.24', '2.16.840.1.113883.10.20.22.2.43'];
const DISCHARGE_MEDICATION_SECTIONS = ['2.16.840.1.113883.10.20.22.2.11', '2.16.840.1.113883.10.20.22.2.11.1'];
// A copy of the parsed document in the shapes the converter handles (the original goes back for
// reading.ts): it walks the header's participants as a list, and a document with exactly one is
// parsed as a lone object; it knows no admission or discharge diagnosis section (their diagnosis
// acts wrap problem observations as a problem concern does) and no discharge medications section
// (its acts wrap medication activities).
function asTheConverterReadsIt(document) {
  const copy = structuredClone(document);
  if (copy.participant && !Array.isArray(copy.participant)) copy.participant = [copy.participant];
  const components = (copy.component && copy.component.structuredBody && listOf(copy.component.structuredBody.component)) || [];
  for (const section of components.flatMap((component) => listOf(component.section))) {
    const roots = rootsOf(section);
    if (roots.some((root) => DIAGNOSIS_SECTIONS.includes(root))) {
      section.templateId = [{ '@_root': '2.16.840.1.113883.10.20.22.2.5.1' }];
      for (const act of listOf(section.entry).flatMap((entry) => listOf(entry.act))) act.templateId = [{ '@_root': '2.16.840.1.113883.10.20.22.4.3' }];
    } else if (roots.some((root) => DISCHARGE_MEDICATION_SECTIONS.includes(root))) {
      section.templateId = [{ '@_root': '2.16.840.1.113883.10.20.22.2.1.1' }];
      section.entry = listOf(section.entry).flatMap((entry) =>
        entry.act
          ? listOf(entry.act).flatMap((act) => listOf(act.entryRelationship).flatMap((relationship) => listOf(relationship.substanceAdministration).map((activity) => ({ substanceAdministration: [activity] }))))
          : [entry],
      );
    }
  }
  return copy;
}
function convert(xml) {
  const checked = XMLValidator.validate(xml);
  if (checked !== true) return { document: undefined, resources: [], skippedSections: [], malformed: { line: checked.err.line, message: checked.err.msg } };
  const document = ccdaLibrary.convertXmlToCcda(xml);
  if (!document || typeof document !== 'object') return { document: undefined, resources: [], skippedSections: [] };
  const forConverter = asTheConverterReadsIt(document);
  const resourcesOf = (bundle) => (bundle && Array.isArray(bundle.entry) ? bundle.entry.map((entry) => entry.resource).filter(Boolean) : []);
  try {
    return { document, resources: resourcesOf(ccdaLibrary.convertCcdaToFhir(forConverter)), skippedSections: [] };
  } catch {
    const components = (forConverter.component && forConverter.component.structuredBody && forConverter.component.structuredBody.component) || [];
    const resources = [];
    const skippedSections = [];
    for (const component of components) {
      const single = { ...forConverter, component: { ...forConverter.component, structuredBody: { ...forConverter.component.structuredBody, component: [component] } } };
      try {
        resources.push(...resourcesOf(ccdaLibrary.convertCcdaToFhir(single)).filter((resource) => resource.resourceType !== 'Composition' && resource.resourceType !== 'Patient'));
      } catch {
        const section = Array.isArray(component.section) ? component.section[0] : component.section;
        skippedSections.push(String((section && section.title && (section.title['#text'] || section.title)) || 'a section'));
      }
    }
    return { document, resources, skippedSections };
  }
}
parentPort.on('message', (xml) => {
  try {
    parentPort.postMessage({ ok: true, json: JSON.stringify(convert(xml)) });
  } catch (error) {
    parentPort.postMessage({ ok: false, message: error && error.message ? String(error.message) : 'unreadable' });
  }
});
`;

/**
 * Converts one C-CDA document in a fresh worker thread, given up after {@link READ_TIME_LIMIT_MS}.
 * @throws Invalid when the library cannot read it or it takes too long.
 */
export function convertInWorker(xml: string, timeLimitMs = READ_TIME_LIMIT_MS): Promise<Converted> {
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { library: require.resolve('@medplum/ccda'), validator: require.resolve('fast-xml-parser') },
    resourceLimits: { maxOldGenerationSizeMb: 512 },
  });
  return new Promise<Converted>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Invalid('The document took too long to read, so nothing was added. Ask the sender for a smaller document.', 'unreadable_document'));
      void worker.terminate();
    }, timeLimitMs);
    const finish = () => {
      clearTimeout(timer);
      void worker.terminate();
    };
    // The answer comes as JSON text and is parsed here, so its objects and arrays are this context's own.
    worker.once('message', (answer: { ok: true; json: string } | { ok: false; message: string }) => {
      finish();
      if (answer.ok) resolve(JSON.parse(answer.json) as Converted);
      else reject(new Invalid('The document could not be read as a clinical document (C-CDA), so nothing was added.', 'unreadable_document'));
    });
    worker.once('error', () => {
      finish();
      reject(new Invalid('The document could not be read as a clinical document (C-CDA), so nothing was added.', 'unreadable_document'));
    });
    worker.postMessage(xml);
  });
}
