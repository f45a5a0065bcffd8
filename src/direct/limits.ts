/**
 * The fixed limits of Direct messaging: 25 MB a message, 20
 * attachments. A message's size is what it carries — its text and its attachments, decoded — so
 * the same message fits whether it comes as JSON (base64) or as mail (MIME, base64 in lines).
 */

/** 25 MB (MiB): the text and the decoded attachments of one message together. */
export const MAX_MESSAGE_BYTES = 25 * 1024 * 1024;

export const MAX_ATTACHMENTS = 20;

export const MAX_SUBJECT_CHARS = 200;

/** The message text; a page has to show it whole. */
export const MAX_TEXT_CHARS = 1_000_000;

export const MAX_FILENAME_CHARS = 200;

/**
 * The HTML of a mail with no plain text, turned into text for people to read: converting takes
 * about a third of a second a megabyte, so larger HTML is refused, not converted.
 */
export const MAX_HTML_CHARS = 1_000_000;

/** Recipients of one SMTP transaction (each gets the message in its own inbox). */
export const MAX_RECIPIENTS = 20;

/**
 * What the SMTP receiver announces as SIZE and refuses above (552): a message of
 * MAX_MESSAGE_BYTES in base64 (4/3, plus a line break every 76 characters) and 1 MiB of headers
 * and text encoding. A message under this that decodes to more than MAX_MESSAGE_BYTES is refused
 * with 552 at the end of DATA.
 */
export const MAX_SMTP_BYTES = Math.ceil(((MAX_MESSAGE_BYTES * 4) / 3) * (78 / 76)) + 1024 * 1024;

/** A JSON body carrying MAX_MESSAGE_BYTES in base64, with room for the text and the fields. */
export const MAX_API_BODY_BYTES = Math.ceil((MAX_MESSAGE_BYTES * 4) / 3) + 2 * 1024 * 1024;

/** A multipart form from the inbox page: the message, boundaries and part headers. */
export const MAX_FORM_BYTES = MAX_MESSAGE_BYTES + 2 * 1024 * 1024;

/** "25 MB", as people read it. */
export const MAX_MESSAGE_WORDS = '25 MB';
