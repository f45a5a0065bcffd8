/**
 * The short-lived copy of registered clients' metadata (src/oidc/client-cache.ts): found clients
 * are kept for the TTL and then read again, a lookup that may not be stale reads and refreshes, unknown ones are never kept (an app registered on
 * another instance works at its first call), a write forgets at once, and callers get copies.
 */
import { createClientCache } from '../../src/oidc/client-cache';

describe('client cache', () => {
  let clock = 0;
  const now = () => clock;
  beforeEach(() => {
    clock = 1_000_000;
  });

  it('keeps a found client for the TTL, then reads it again', async () => {
    const cache = createClientCache<{ client_id: string; v: number }>(5, now);
    let loads = 0;
    const load = async () => ({ client_id: 'app', v: (loads += 1) });
    expect(await cache.find('app', load, true)).toEqual({ client_id: 'app', v: 1 });
    clock += 4_999;
    expect(await cache.find('app', load, true)).toEqual({ client_id: 'app', v: 1 });
    clock += 1;
    expect(await cache.find('app', load, true)).toEqual({ client_id: 'app', v: 2 });
    expect(loads).toBe(2);
  });

  it('reads the database when the caller may not use a stale copy, and keeps what it read', async () => {
    const cache = createClientCache<{ client_id: string; name: string }>(5, now);
    let name = 'Before';
    const load = async () => ({ client_id: 'app', name });
    await cache.find('app', load, true);
    name = 'After';
    expect((await cache.find('app', load, true))?.name).toBe('Before');
    expect((await cache.find('app', load, false))?.name).toBe('After');
    name = 'Later';
    expect((await cache.find('app', load, true))?.name).toBe('After');
  });

  it('never keeps an unknown client', async () => {
    const cache = createClientCache<{ client_id: string }>(5, now);
    let registered = false;
    const load = async () => (registered ? { client_id: 'new' } : undefined);
    expect(await cache.find('new', load, true)).toBeUndefined();
    registered = true;
    expect(await cache.find('new', load, true)).toEqual({ client_id: 'new' });
  });

  it('forgets a client at once when this process writes it', async () => {
    const cache = createClientCache<{ client_id: string; name: string }>(5, now);
    let name = 'Before';
    const load = async () => ({ client_id: 'app', name });
    await cache.find('app', load, true);
    name = 'After';
    expect((await cache.find('app', load, true))?.name).toBe('Before');
    cache.forget('app');
    expect((await cache.find('app', load, true))?.name).toBe('After');
  });

  it('hands out copies, so a caller changing one does not change the next', async () => {
    const cache = createClientCache<{ client_id: string; extra?: string }>(5, now);
    const first = await cache.find('app', async () => ({ client_id: 'app' }), true);
    if (first) first.extra = 'changed';
    expect(await cache.find('app', async () => undefined, true)).toEqual({ client_id: 'app' });
  });

  it('keeps nothing with a TTL of 0', async () => {
    const cache = createClientCache<{ client_id: string }>(0, now);
    let loads = 0;
    const load = async () => ((loads += 1), { client_id: 'app' });
    await cache.find('app', load, true);
    await cache.find('app', load, true);
    expect(loads).toBe(2);
  });
});
