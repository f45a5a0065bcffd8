/**
 * Runs `@medplum/ccda` (C-CDA XML → FHIR R4 Bundle) off the event loop: in a worker thread with a
 * time limit, so a large or pathological document never stalls other requests. The worker checks
 * that the text is well-formed XML (fast-xml-parser's validator), parses it (fast-xml-parser,
 * through the library) and converts it. A header with one participant
 * (a discharge summary's caregiver, say) makes the library throw: it is made a list first. Should
 * the whole document still throw, each section is converted on its own and the ones that throw are
 * left out, named. The worker hands
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
function convert(xml) {
  const checked = XMLValidator.validate(xml);
  if (checked !== true) return { document: undefined, resources: [], skippedSections: [], malformed: { line: checked.err.line, message: checked.err.msg } };
  const document = ccdaLibrary.convertXmlToCcda(xml);
  if (!document || typeof document !== 'object') return { document: undefined, resources: [], skippedSections: [] };
  // The converter walks the header's participants as a list; a document with exactly one is parsed as a lone object, and it throws.
  if (document.participant && !Array.isArray(document.participant)) document.participant = [document.participant];
  const resourcesOf = (bundle) => (bundle && Array.isArray(bundle.entry) ? bundle.entry.map((entry) => entry.resource).filter(Boolean) : []);
  try {
    return { document, resources: resourcesOf(ccdaLibrary.convertCcdaToFhir(document)), skippedSections: [] };
  } catch {
    const components = (document.component && document.component.structuredBody && document.component.structuredBody.component) || [];
    const resources = [];
    const skippedSections = [];
    for (const component of components) {
      const single = { ...document, component: { ...document.component, structuredBody: { ...document.component.structuredBody, component: [component] } } };
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
