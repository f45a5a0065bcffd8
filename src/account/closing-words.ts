/**
 * What closing an account says: on its pages, and in the audit log — the one line that stays about
 * the account itself (no name, no email, no health data: only that it closed and how many records
 * went or stayed), and the line a record someone else also looks after keeps about the person who left.
 */
import type { AuditWords } from '../audit/words';

export const WRONG_PASSWORD_TO_CLOSE = 'That is not your password. Your account is not closed.';

export const ACCOUNT_CLOSED =
  'Your account is closed. Every app you allowed has lost its access, you are signed out everywhere, and your records are erased. ' +
  'Records that someone else also looks after stay with them. You can create a new account with the same email at any time.';

export const CLOSING_WORDS: AuditWords = {
  'account.closed': () => 'An account was closed',
  'account.custodian_left': (_event, { person }) => `${person} closed their account and no longer looks after this record`,
};
