/**
 * The server keys what is kept for a person is sealed under — an authenticator app's key, the
 * recovery codes shown once — known once the OpenID core has loaded its keys. KEY_ENCRYPTION_SECRET
 * when set, else the first cookie key, seals; every one of them opens, as cookie keys rotate (a new
 * key first, the old ones kept until what they signed has gone): rotating COOKIE_KEYS or setting
 * KEY_ENCRYPTION_SECRET later leaves stored authenticator apps working.
 */
import { openUnder, sealUnder } from '../security/credential-keys';

/** Sealing for one purpose, bound to the person it is for. */
export type PersonSealing = {
  seal(personId: string, text: string): string;
  /** What was sealed, or `undefined` when no server key opens it. */
  open(personId: string, sealed: string): string | undefined;
};

export function createServerKeys() {
  let keys: readonly string[] = [];
  const known = () => {
    if (keys.length === 0) throw new Error('a sealed secret used before the OpenID core started');
    return keys;
  };
  return {
    /** The keys, the sealing one first. */
    use(serverKeys: readonly string[]) {
      keys = serverKeys.filter((key) => key.length > 0);
    },
    sealingFor(purpose: string): PersonSealing {
      const credential = (key: string, personId: string) => `${key}\u0000${purpose}\u0000${personId}`;
      return {
        seal: (personId, text) => sealUnder(credential(known()[0] ?? '', personId), text),
        open: (personId, sealed) => {
          for (const key of known()) {
            const opened = openUnder(credential(key, personId), sealed);
            if (opened !== undefined) return opened;
          }
          return undefined;
        },
      };
    },
  };
}
