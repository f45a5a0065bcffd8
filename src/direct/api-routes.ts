/**
 * The Direct app API: `POST /api/direct/messages` for an app's client-credentials token holding
 * the `direct` capability — a message with attachments to a record's Direct address. An operation
 * table entry (api/operations.ts): the core mounts it behind the bearer gate and describes it in
 * the OpenAPI document.
 */
import { defineOperation, type AppOperation } from '../api/operations';
import { MAX_API_BODY_BYTES, MAX_ATTACHMENTS, MAX_MESSAGE_WORDS } from './limits';
import { apiMessage, messageSent } from './schemas';
import type { DirectService } from './service';

export function directApiOperations(direct: DirectService): AppOperation[] {
  return [
    defineOperation({
      id: 'sendDirectMessage',
      method: 'post',
      path: '/api/direct/messages',
      capability: 'direct',
      summary: 'Send a message to a record’s Direct address',
      description: `At most ${MAX_ATTACHMENTS} attachments and ${MAX_MESSAGE_WORDS} with the text; each attachment's contents must be of its declared type.`,
      body: {
        schema: apiMessage,
        maxBytes: MAX_API_BODY_BYTES,
        noun: 'the message',
        tooLarge: `A message can be at most ${MAX_MESSAGE_WORDS} with its attachments.`,
      },
      answer: { status: 201, description: 'The message is in the record’s inbox.', schema: messageSent },
      refusals: [
        {
          status: 400,
          description: 'An attachment is of a type carevault does not take, or its contents are not of its type (`unsupported_attachment`, `invalid_message`).',
        },
        { status: 404, description: 'No record has this Direct address (`unknown_recipient`).' },
        { status: 413, description: `The message is over ${MAX_MESSAGE_WORDS} with its attachments, decoded.` },
        { status: 429, description: 'The app sent too many messages to addresses that do not exist (`too_many_requests`).' },
      ],
      async handle({ caller, body }) {
        const { to, subject, text, attachments } = body;
        const id = await direct.sendFromApp(caller.clientId, to, {
          subject,
          text,
          attachments: attachments.map((attachment) => ({
            filename: attachment.filename,
            contentType: attachment.content_type,
            content: Buffer.from(attachment.data, 'base64'),
          })),
        });
        return { body: { id } };
      },
    }),
  ];
}
