/**
 * Clinical documents' audit events in a record's history, in words.
 */
import { detailText, type AuditWords, type NewsKind } from '../audit/words';

export const DOCUMENT_WORDS: AuditWords = {
  'documents.items_added': (event, { person }) => {
    const count = typeof event.details.count === 'number' ? event.details.count : 0;
    return `${person} added ${count} ${count === 1 ? 'item' : 'items'} from ${detailText(event.details.sender, 'a sender')}’s document '${detailText(event.details.title, 'Clinical document')}'`;
  },
  'documents.imported': (event, { person }) =>
    `${person} imported the clinical document ${detailText(event.details.filename, 'a file')} ('${detailText(event.details.title, 'Clinical document')}')`,
};

/** Items added from a document are news on the person's home page. */
export const DOCUMENT_NEWS: Readonly<Record<string, NewsKind>> = { 'documents.items_added': 'item', 'documents.imported': 'item' };
