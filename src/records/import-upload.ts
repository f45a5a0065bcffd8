/**
 * The Import form is multipart (it carries the Bundle file): parsed by multer into memory, one
 * file of at most 5 MB (the size of a transaction Bundle at /fhir) and a few fields, refused from
 * Content-Length before reading when the whole form is larger. It runs before the CSRF check,
 * which reads the token from the parsed fields.
 */
import type { RequestHandler } from 'express';
import multer from 'multer';
import { BadRequest, HttpError, PayloadTooLarge } from '../http/errors';

export const MAX_IMPORT_BYTES = 5 * 1024 * 1024;

const upload = multer({
  storage: multer.memoryStorage(),
  defParamCharset: 'utf8',
  limits: { fileSize: MAX_IMPORT_BYTES, files: 1, fields: 5, fieldNameSize: 100, fieldSize: 1024, parts: 6 },
}).single('bundle');

export const importUpload: RequestHandler = (req, res, next) => {
  const declared = Number(req.get('content-length') ?? Number.NaN);
  if (!Number.isFinite(declared)) {
    next(new HttpError(411, 'length_required', 'The form was sent without its length; choose the file again on the record page.'));
    return;
  }
  if (declared > MAX_IMPORT_BYTES + 64 * 1024) {
    next(new PayloadTooLarge('The file is larger than 5 MB: nothing was imported.'));
    return;
  }
  upload(req, res, (error: unknown) => {
    if (!error) next();
    else if (error instanceof multer.MulterError && error.code === 'LIMIT_FILE_SIZE')
      next(new PayloadTooLarge('The file is larger than 5 MB: nothing was imported.'));
    else next(new BadRequest('The form could not be read: choose the file again on the record page.'));
  });
};
