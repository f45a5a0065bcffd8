/**
 * A person's self-contained token whose liveness is still to be read (oidc/access-tokens.ts): its
 * signature holds, but Remove access, a withdrawn rule, sign-out, a replayed refresh token, a
 * closed account or a stopped share may have ended it. The liveness is read once per request:
 * inside the first statement that reads or writes the record (one round trip for both; its data
 * steps act only when the token is live), or on its own when the work has no such statement.
 * Nothing is read or written for a token found not live: the request is refused with 401.
 */
import type { TokenLiveness } from '../oidc/store';
import type { InvalidToken } from './errors';

/** The values a statement reads liveness by, and what it found. */
type LiveWork<T> = (liveness: TokenLiveness | undefined) => Promise<{ live: boolean; result: T }>;

export type RecordLiveness = {
  /**
   * Runs `work` with the liveness values when nothing has read them yet (its statement reads them
   * with its data and answers whether the token was live); otherwise after the liveness was read,
   * without them. Refused (InvalidToken) when the token is not live.
   */
  carriedBy<T>(work: LiveWork<T>): Promise<T>;
  /** Reads the liveness on its own unless it was read already; refused (InvalidToken) when the token is not live. */
  settle(): Promise<void>;
};

const ignore = () => undefined;

/** The liveness of one token for one request: `readAlone` reads it by a statement of its own. */
export function recordLiveness(values: TokenLiveness, readAlone: (liveness: TokenLiveness) => Promise<boolean>, refusal: () => InvalidToken): RecordLiveness {
  /** Settles once the liveness is known: rejected with the refusal when the token is not live. */
  let known: Promise<void> | undefined;
  const liveOrRefused = (live: boolean): void => {
    if (!live) throw refusal();
  };
  const settle = (): Promise<void> => (known ??= readAlone(values).then(liveOrRefused));

  return {
    async carriedBy(work) {
      if (known) {
        await known;
        return (await work(undefined)).result;
      }
      const running = work(values);
      // A statement that failed read nothing: whoever waits reads the liveness on its own.
      known = running.then(
        ({ live }) => liveOrRefused(live),
        () => {
          known = undefined;
          return settle();
        },
      );
      known.catch(ignore);
      const { live, result } = await running;
      liveOrRefused(live);
      return result;
    },
    settle,
  };
}
