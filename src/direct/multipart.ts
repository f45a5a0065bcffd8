/**
 * The inbox's Send form is multipart (it carries files): parsed by multer into memory, with limits
 * that bound what one request can make the server hold — the whole body (checked from
 * Content-Length before reading), each file, the number of files and fields. It runs before the
 * CSRF check, which reads the token from the parsed fields.
 */
import type { RequestHandler } from 'express';
import multer from 'multer';
import { BadRequest, HttpError, PayloadTooLarge } from '../http/errors';
import { MAX_ATTACHMENTS, MAX_FORM_BYTES, MAX_MESSAGE_BYTES, MAX_MESSAGE_WORDS, MAX_TEXT_CHARS } from './limits';

const upload = multer({
  storage: multer.memoryStorage(),
  // Browsers send file names as UTF-8.
  defParamCharset: 'utf8',
  limits: {
    fileSize: MAX_MESSAGE_BYTES,
    files: MAX_ATTACHMENTS,
    fields: 10,
    fieldNameSize: 100,
    // UTF-8 takes up to 4 bytes a character.
    fieldSize: MAX_TEXT_CHARS * 4,
    parts: MAX_ATTACHMENTS + 10,
  },
}).array('attachments', MAX_ATTACHMENTS);

const REFUSALS: Readonly<Record<string, HttpError>> = {
  LIMIT_FILE_SIZE: new PayloadTooLarge(`An attachment is over ${MAX_MESSAGE_WORDS}: nothing was sent.`),
  LIMIT_FILE_COUNT: new BadRequest(`A message can carry at most ${MAX_ATTACHMENTS} attachments: nothing was sent.`),
  LIMIT_UNEXPECTED_FILE: new BadRequest(`A message can carry at most ${MAX_ATTACHMENTS} attachments: nothing was sent.`),
  LIMIT_FIELD_VALUE: new PayloadTooLarge('The message is too long: nothing was sent.'),
};

/** Parses the form into `req.body` (fields) and `req.files` (attachments), or refuses it. */
export const sendFormParser: RequestHandler = (req, res, next) => {
  const declared = Number(req.get('content-length') ?? Number.NaN);
  if (!Number.isFinite(declared)) {
    next(new HttpError(411, 'length_required', 'The form was sent without its length; send it again from the inbox page.'));
    return;
  }
  if (declared > MAX_FORM_BYTES) {
    next(new PayloadTooLarge(`The message is over ${MAX_MESSAGE_WORDS} with its attachments: nothing was sent.`));
    return;
  }
  upload(req, res, (error: unknown) => {
    if (!error) {
      next();
      return;
    }
    if (error instanceof multer.MulterError) {
      next(REFUSALS[error.code] ?? new BadRequest('The form could not be read: send it again from the inbox page.'));
      return;
    }
    next(new BadRequest('The form could not be read: send it again from the inbox page.'));
  });
};
