/**
 * An app API operation as one table entry: its method and path, the capability its
 * client-credentials token must hold, what it reads (path, query and body schemas), what it
 * answers, how else it may refuse — and what it does. Both the router (routes.ts) and the OpenAPI
 * document (openapi.ts) are built from these entries, so the document describes exactly what is
 * served, with the schemas that check each request.
 */
import type { z } from 'zod';
import type { Capability } from '../rules/scopes';
import type { AppCaller } from './gate';
import { accepted, type JsonBody } from './input';
import { nextPageUrl, type Position } from './paging';

/** The statuses an operation may name beyond the ones every app API shares (401, 403, 500, 503). */
type RefusalStatus = 400 | 404 | 409 | 413 | 415 | 429;

/** A way the operation refuses, documented; the answer is always `{ error, error_description }`. */
export type Refusal = { status: RefusalStatus; description: string };

type Schema = z.ZodType | undefined;
type Read<S extends Schema> = S extends z.ZodType ? z.output<S> : undefined;

/** What an operation's work receives: the caller and its input, already checked. */
type OperationInput<P extends Schema, Q extends Schema, B extends Schema> = {
  caller: AppCaller;
  params: Read<P>;
  query: Read<Q>;
  body: Read<B>;
  /** The absolute URL of the page after `position` (a list's `next`); `undefined` without one. */
  nextPage(position: Position | undefined): string | undefined;
};

/** What an operation's work answers: a body of its answer's schema, and where a made thing lives. */
type Reply<R extends z.ZodType> = { body: z.input<R>; location?: string };

/** What describes an operation (the router and the document read this part). */
type OperationShape = {
  /** Unique across the app APIs; code generators name methods after it. */
  id: string;
  method: 'get' | 'post' | 'delete';
  /** Express's form: `/api/dopu/packages/:id`. */
  path: string;
  capability: Capability;
  summary: string;
  description?: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: JsonBody;
  answer: { status: 200 | 201; description: string; schema: z.ZodType };
  refusals?: readonly Refusal[];
};

/** What the router calls once the bearer gate let the caller through and the body was read. */
type RawInput = { caller: AppCaller; params: unknown; query: Readonly<Record<string, unknown>>; body: unknown; url: string };

export type AppOperation = OperationShape & {
  run(input: RawInput): Promise<{ status: number; body: unknown; location?: string | undefined }>;
};

type Spec<P extends Schema, Q extends Schema, B extends Schema, R extends z.ZodType> = Omit<OperationShape, 'params' | 'query' | 'body' | 'answer'> & {
  params?: P & z.ZodObject;
  query?: Q & z.ZodObject;
  body?: JsonBody<B & z.ZodType>;
  answer: { status: 200 | 201; description: string; schema: R };
  handle(input: OperationInput<P, Q, B>): Promise<Reply<R>>;
};

/** One table entry: its input is checked by its own schemas before `handle` sees it. */
export function defineOperation<P extends Schema = undefined, Q extends Schema = undefined, B extends Schema = undefined, R extends z.ZodType = z.ZodType>(
  spec: Spec<P, Q, B, R>,
): AppOperation {
  const { handle, ...shape } = spec;
  return {
    ...shape,
    async run(input) {
      const params = (spec.params ? accepted(spec.params, input.params) : undefined) as Read<P>;
      const query = (spec.query ? accepted(spec.query, input.query) : undefined) as Read<Q>;
      const body = (spec.body ? accepted(spec.body.schema, input.body) : undefined) as Read<B>;
      const nextPage = (position: Position | undefined) => (position ? nextPageUrl(input.url, input.query, position) : undefined);
      const reply = await handle({ caller: input.caller, params, query, body, nextPage });
      return { status: spec.answer.status, body: reply.body, location: reply.location };
    },
  };
}
