/**
 * `POST /api/direct/messages` (issue 12 §2, DESIGN.md "Direct"): an app with the `direct`
 * capability sends a message to a record's Direct address with a client-credentials token (scope
 * `direct`): `{ to, subject, text, attachments: [{ filename, content_type, data }] }` → 201 `{ id }`.
 * Refusals are JSON `{ error, error_description }`: 400 (the body, an attachment's type or
 * content), 404 (no such address), 413 (over 25 MB), 415 (not JSON), 401/403 (the token).
 */
import express from 'express';
import { appCallerOf, type BearerGate } from '../api/gate';
import { BadRequest, HttpError } from '../http/errors';
import { MAX_API_BODY_BYTES } from './limits';
import { apiMessage } from './schemas';
import type { DirectService } from './service';

type Deps = { gate: BearerGate; direct: DirectService };

export function directApiRoutes({ gate, direct }: Deps): express.Router {
  const router = express.Router();
  // The token is checked before a body of up to ~35 MB is read.
  const json = express.json({ limit: MAX_API_BODY_BYTES, type: ['application/json', 'application/*+json'] });

  router.post('/api/direct/messages', gate.forApps('direct'), json, async (req, res) => {
    res.set('Cache-Control', 'no-store');
    if (!req.is(['application/json', 'application/*+json'])) {
      throw new HttpError(415, 'unsupported_media_type', 'Send the message as JSON (Content-Type: application/json).');
    }
    const input = apiMessage.safeParse(req.body ?? {});
    if (!input.success) {
      const [issue] = input.error.issues;
      const path = issue?.path.length ? `${issue.path.join('.')}: ` : '';
      throw new BadRequest(`${path}${issue?.message ?? 'The message is not valid.'}`);
    }
    const { to, subject, text, attachments } = input.data;
    const id = await direct.sendFromApp(appCallerOf(res).clientId, to, {
      subject,
      text,
      attachments: attachments.map((attachment) => ({
        filename: attachment.filename,
        contentType: attachment.content_type,
        content: Buffer.from(attachment.data, 'base64'),
      })),
    });
    res.status(201).json({ id });
  });

  return router;
}
