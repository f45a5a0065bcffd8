/**
 * The per-request context (src/http/request-context.ts): each request has its own entries, an
 * entry starts at its initial value, a lookup through `loadOnce` runs once per request and key
 * (a second asker shares the first one's promise), and nothing is shared between requests.
 */
import type { IncomingMessage } from 'node:http';
import { entryOf, loadOnce, requestEntry, setEntry } from '../../src/http/request-context';

const request = () => ({}) as IncomingMessage;
const COUNT = requestEntry('a count', () => 0);
const NAMES = requestEntry('names read', () => new Map<string, Promise<string>>());

test('an entry starts at its initial value, and what is set stays with that request', () => {
  const [first, second] = [request(), request()];
  expect(entryOf(first, COUNT)).toBe(0);
  setEntry(first, COUNT, 3);
  expect(entryOf(first, COUNT)).toBe(3);
  expect(entryOf(second, COUNT)).toBe(0);
});

test('a lookup runs once per request and key; askers at the same time share it', async () => {
  const [first, second] = [request(), request()];
  let loads = 0;
  const load = (name: string) => async () => `${name} ${(loads += 1)}`;
  const [a, b] = await Promise.all([loadOnce(first, NAMES, 'ann', load('ann')), loadOnce(first, NAMES, 'ann', load('ann'))]);
  expect([a, b, loads]).toEqual(['ann 1', 'ann 1', 1]);
  expect(await loadOnce(first, NAMES, 'bo', load('bo'))).toBe('bo 2');
  expect(await loadOnce(second, NAMES, 'ann', load('ann'))).toBe('ann 3');
});
