/**
 * What one request remembers while it is answered, in one place: lookups made once and read again
 * by a later step (oidc-provider asks for the same token, grant, account and authorization several
 * times in one token request), and what one step learns for a later one (the grants a request
 * ended, a body's size in bytes). One context per request, keyed by Node's request object — the
 * same object under express and, as `ctx.req`, under oidc-provider's koa — and gone with it.
 *
 * Each entry is declared by the module that uses it (`requestEntry`): its name, its type and its
 * value before anything is set. Nothing in here outlives the request, so nothing can go stale
 * between requests.
 */
import type { IncomingMessage } from 'node:http';

/** One named, typed entry of every request's context. */
export type RequestEntry<T> = { readonly name: string; readonly initial: () => T };

export function requestEntry<T>(name: string, initial: () => T): RequestEntry<T> {
  return { name, initial };
}

const contexts = new WeakMap<IncomingMessage, Map<RequestEntry<unknown>, unknown>>();

function contextOf(req: IncomingMessage): Map<RequestEntry<unknown>, unknown> {
  let context = contexts.get(req);
  if (!context) {
    context = new Map();
    contexts.set(req, context);
  }
  return context;
}

/** The request's value of `entry`: its initial value until something else is set. */
export function entryOf<T>(req: IncomingMessage, entry: RequestEntry<T>): T {
  const context = contextOf(req);
  if (!context.has(entry)) context.set(entry, entry.initial());
  return context.get(entry) as T;
}

export function setEntry<T>(req: IncomingMessage, entry: RequestEntry<T>, value: T): void {
  contextOf(req).set(entry, value);
}

/**
 * What `load` gives for `key`, loaded at most once per request: `entry` keeps each key's promise,
 * so a second asker waits for the first lookup instead of starting another.
 */
export function loadOnce<T>(req: IncomingMessage, entry: RequestEntry<Map<string, Promise<T>>>, key: string, load: () => Promise<T>): Promise<T> {
  const loaded = entryOf(req, entry);
  let value = loaded.get(key);
  if (!value) {
    value = load();
    loaded.set(key, value);
  }
  return value;
}
