/**
 * The password asked again before a signed-in person lowers their account's protection (removing a
 * passkey or the authenticator app): a stolen session alone cannot turn two-step sign-in off. Wrong
 * passwords count against the person like on the password change (`password-change-person`).
 */
import type { Core } from '../feature';
import { WrongCredentials } from '../errors';
import type { Limit } from '../security/limiters';

type Deps = { accounts: Pick<Core['accounts'], 'passwordMatches'>; limit: Limit };

export function createPasswordConfirmation({ accounts, limit }: Deps) {
  /** @throws WrongCredentials for a wrong password; TooManyAttempts while locked. */
  return async (personId: string, password: string): Promise<void> => {
    const attempt = await limit.take(personId);
    if (!(await accounts.passwordMatches(personId, password))) {
      await attempt.failed();
      throw new WrongCredentials('That is not your password. Nothing was removed.');
    }
    await limit.reset(personId);
  };
}
