/**
 * Registered clients' metadata, kept in memory for a few seconds: oidc-provider looks the client up
 * on every call to the token, introspection and revocation endpoints, and with apps refreshing
 * thousands of tokens that lookup would be one database round trip in every request. Only those
 * machine-to-machine calls may use a copy up to a few seconds old (route-lookups.ts decides); every
 * other lookup (the authorization endpoint, where a person sees the app's rules) reads the database
 * and refreshes the copy. A write through this process forgets its entry at once, and only clients that
 * exist are kept (an app registered on another instance is found at its first call).
 * https://github.com/panva/node-oidc-provider/blob/main/docs/README.md#adapter
 */

/** How long another instance may keep using a client's metadata after it was stored. */
const CLIENT_CACHE_SECONDS = 5;

/** Entries kept at most; beyond it the oldest go (a bound, not an expected size). */
const MAX_ENTRIES = 10_000;

export type ClientCache<T extends object> = {
  /**
   * With `stale`, the kept metadata of `id` while it is younger than the TTL; otherwise (or when
   * none is kept) what `load` finds, which is kept when found.
   */
  find(id: string, load: () => Promise<T | undefined>, stale: boolean): Promise<T | undefined>;
  forget(id: string): void;
};

export function createClientCache<T extends object>(seconds = CLIENT_CACHE_SECONDS, now = () => Date.now()): ClientCache<T> {
  const entries = new Map<string, { value: T; until: number }>();
  return {
    async find(id, load, stale) {
      const hit = stale ? entries.get(id) : undefined;
      // A copy each time: oidc-provider is free to change what it is handed.
      if (hit && hit.until > now()) return { ...hit.value };
      const value = await load();
      entries.delete(id);
      if (!value || seconds <= 0) return value;
      if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value as string);
      entries.set(id, { value: { ...value }, until: now() + seconds * 1000 });
      return value;
    },
    forget(id) {
      entries.delete(id);
    },
  };
}
