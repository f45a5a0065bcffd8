/**
 * What Patient Connect's pages say about a connect request that is over, or not yet finished: on
 * the code page when its identity code is entered again, and on the request's own page, where the
 * flow ends and where Back and reload of a finished step lead. Always what happened, in words, and
 * who to ask for a new code (the clinic that gave it) — never a bare error.
 */
import { UNUSED_DAYS, WRONG_ANSWERS_TO_LOCK } from '../rules/healthvault';
import type { RequestStanding } from './service';

/** A page about one request: a heading, what happened, and where to go from here. */
export type StandingPage = { title: string; lines: string[]; link: { href: string; text: string } };

/**
 * Why an identity code can no longer be used, for the code page; `undefined` while it can (an
 * entered code carries on where the request stands).
 */
export function codeWords(standing: RequestStanding, clinic: string): string | undefined {
  switch (standing.status) {
    case 'pending':
    case 'opened':
      return undefined;
    case 'authorized':
      return `This code was already used to connect ${clinic}. Ask ${clinic} for a new code.`;
    case 'denied':
      return `This code was used, and connecting ${clinic} was declined. Ask ${clinic} for a new code.`;
    case 'locked':
      return `This code is locked: the secret question was answered wrongly ${WRONG_ANSWERS_TO_LOCK} times. Ask ${clinic} for a new code.`;
    case 'expired':
      return `This code has expired: it was not used within ${UNUSED_DAYS} days. Ask ${clinic} for a new code.`;
    case 'withdrawn':
      return `${clinic} withdrew this code. Ask ${clinic} for a new code.`;
  }
}

/** The request's page: `mine` when the signed-in person is the one who answered (and allowed). */
export function standingPage(standing: RequestStanding, clinic: string, mine: boolean, recordName: string | undefined): StandingPage {
  const newCode = { href: '/connect', text: 'Enter another identity code' };
  if (standing.status === 'authorized' && mine) {
    return {
      title: 'Connected',
      lines: [
        `You connected ${clinic} — see Connected apps.`,
        `${clinic} can now reach ${recordName ?? 'the chosen'}'s record, in the ways you allowed — also while you are away, until you remove its access.`,
        'You can see what it does on the record’s history, and remove its access at any time on Connected apps.',
      ],
      link: { href: '/apps', text: 'Connected apps' },
    };
  }
  if (standing.status === 'pending' || standing.status === 'opened') {
    return {
      title: 'Not finished yet',
      lines: [`The connection to ${clinic} is not finished. Enter the identity code again to carry on where you left off.`],
      link: { href: '/connect', text: 'Enter the identity code' },
    };
  }
  const titles = {
    authorized: 'Code already used',
    denied: 'Not connected',
    locked: 'Code locked',
    expired: 'Code expired',
    withdrawn: 'Code withdrawn',
  } as const;
  return { title: titles[standing.status], lines: [codeWords(standing, clinic) ?? ''], link: newCode };
}
