/**
 * Apps signing in to the Direct SMTP receiver (SMTP AUTH, RFC 4954): the client id as user name,
 * the client secret as password, the `direct` capability required. Client ids are public, so the
 * limits on guessing (the `direct-smtp-*` limits, with settings of their own) follow the shape of
 * people's sign-in (accounts/service.ts; OWASP Authentication Cheat Sheet, "Account lockout") and
 * cannot be turned against the app:
 * - wrong secrets for one app from one address lock that address out of that app;
 * - wrong secrets from one address, whatever the app, lock that address out;
 * - wrong secrets for one app from anywhere make the addresses that guessed at it wait longer and
 *   longer (never a lock), while an address that has not guessed — the app's own server — is
 *   heard at once.
 * An unknown client id takes the same steps (the same queries, the same words) as a wrong secret,
 * so neither the answer nor its time tells whether an app exists.
 * Knows nothing of SMTP; never call inside a transaction (the limits use their own connection).
 */
import { createHash } from 'node:crypto';
import { NotAllowed, WrongCredentials } from '../errors';
import { settleAll, takeAll } from '../security/limiters';
import type { RateLimits } from '../security/rate-limits';

/** An app that proved who it is. */
export type SmtpSender = { clientId: string; name: string };

type Deps = {
  limits: RateLimits;
  authenticateApp(clientId: string, secret: string): Promise<{ clientId: string; name: string; capabilities: string[] } | undefined>;
};

const WRONG_APP_SECRET = "Authentication failed: use your app's client id as the user name and its client secret as the password.";

/**
 * The key an app's failures are counted under: a digest of what was sent as the user name, so any
 * user name (long, or not text at all) fits the counters' keys, and an unknown one costs the same.
 */
function appKey(clientId: string): string {
  return createHash('sha256').update(clientId).digest('base64url');
}

export function createSmtpSignIn({ limits, authenticateApp }: Deps) {
  const pairLimit = limits.lock('direct-smtp-app-address');
  const appBackoff = limits.backoff('direct-smtp-app');
  const addressLimit = limits.lock('direct-smtp-address');

  return {
    /**
     * The app whose client id and secret these are, when it may send Direct messages.
     * @throws WrongCredentials, NotAllowed (no `direct` capability), TooManyAttempts.
     */
    async signIn(clientId: string, secret: string, address: string): Promise<SmtpSender> {
      const app = appKey(clientId);
      const pair = `${app}|${address}`;
      const attempts = await takeAll([
        () => addressLimit.take(address),
        () => pairLimit.take(pair),
        // Only an address that has guessed at this app waits on the app's backoff.
        (taken) => appBackoff.take(app, taken[1]?.before === 0),
      ]);
      const found = clientId && secret ? await authenticateApp(clientId, secret) : undefined;
      if (!found) {
        await settleAll(attempts, 'failed');
        throw new WrongCredentials(WRONG_APP_SECRET);
      }
      await settleAll(attempts, 'giveBack');
      await pairLimit.reset(pair);
      if (!found.capabilities.includes('direct')) {
        throw new NotAllowed('This app is not registered with the direct capability, so it may not send Direct messages.', 'no_capability');
      }
      return { clientId: found.clientId, name: found.name };
    },
  };
}

export type SmtpSignIn = ReturnType<typeof createSmtpSignIn>;
