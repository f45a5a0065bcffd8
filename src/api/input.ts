/**
 * How every app API reads what its caller sends. A body is JSON (RFC 8259) and nothing else:
 * `application/json` or a `+json` type, else 415 before a byte is read; at most the operation's
 * size, else 413 with the operation's own sentence. The path, the query and the body are each
 * checked by the operation's zod schema; the first problem is refused 400 `invalid_request`,
 * naming the field's path (`resources[2].resourceType: …`, `limit: …`).
 */
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import type { z } from 'zod';
import { describeIssue } from '../apps/registration';
import { Invalid } from '../errors';
import { HttpError, PayloadTooLarge } from '../http/errors';

const JSON_MEDIA_TYPES = ['application/json', 'application/*+json'];

/** What an operation accepts as its body. */
export type JsonBody<S extends z.ZodType = z.ZodType> = {
  schema: S;
  maxBytes: number;
  /** What the body is, for the refusals: "the package". */
  noun: string;
  /** The 413 sentence: what may be sent, in the caller's terms. */
  tooLarge: string;
};

/** 415 unless the body is declared JSON; then the body, parsed, up to its size. */
export function readJson(body: JsonBody): (RequestHandler | ErrorRequestHandler)[] {
  const jsonOnly: RequestHandler = (req, _res, next) => {
    if (!req.is(JSON_MEDIA_TYPES)) throw new HttpError(415, 'unsupported_media_type', `Send ${body.noun} as JSON, with Content-Type application/json.`);
    next();
  };
  const tooLarge: ErrorRequestHandler = (error, _req, _res, next) => {
    next((error as { type?: unknown })?.type === 'entity.too.large' ? new PayloadTooLarge(body.tooLarge) : error);
  };
  return [jsonOnly, express.json({ limit: body.maxBytes, strict: true, type: JSON_MEDIA_TYPES }), tooLarge];
}

/** `value` as `schema` reads it; a refusal naming the first problem's path otherwise. */
export function accepted<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new Invalid(describeIssue(parsed.error));
  return parsed.data;
}
