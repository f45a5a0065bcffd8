/**
 * Clinical documents as a feature: C-CDA documents kept in a record (filed from a Direct message,
 * picked up in a package, or given to Import) read into record items after the person reviews
 * them — its service, its review pages, Import's taker of XML files, and its audit words.
 */
import type { Core, FeatureDefinition } from '../feature';
import { documentRoutes, reviewPath } from './routes';
import { CDA_MEDIA_TYPES } from '../rules/clinical-document';
import { createClinicalDocuments } from './service';
import { DOCUMENT_NEWS, DOCUMENT_WORDS } from './words';

type DocumentDeps = Pick<Core, 'db' | 'audit' | 'repositories' | 'records' | 'limits'>;

/** An XML file: by its type or name, or by its first character. */
function isXml(file: { filename: string; contentType: string; content: Buffer }): boolean {
  if (CDA_MEDIA_TYPES.includes(file.contentType.toLowerCase()) || /\.(xml|cda|ccda)$/i.test(file.filename)) return true;
  return /^(\uFEFF)?\s*<\?xml/.test(file.content.subarray(0, 256).toString('utf8'));
}

export const documentsFeature: FeatureDefinition = {
  name: 'documents',
  auditWords: DOCUMENT_WORDS,
  auditNews: DOCUMENT_NEWS,
  build({ db, audit, repositories, records, limits }: DocumentDeps) {
    const documents = createClinicalDocuments({ db, audit, repositories, readings: limits.rate('clinical-documents-person') });
    return {
      afterProvider: () => ({
        routes: ({ csrf }) => documentRoutes({ records, documents, csrf }),
        fileImports: [
          {
            accepts: isXml,
            keep: async (person, recordId, file) => reviewPath(recordId, (await documents.keepImported(person, recordId, file)).documentId),
          },
        ],
      }),
    };
  },
};
