/**
 * What a pickup refuses, as domain errors (the pages show them above the form; the API as JSON).
 */
import { DomainError, Invalid } from '../errors';
import { UNUSED_DAYS, WRONG_ANSWERS_TO_LOCK } from '../rules/healthvault';
import { dayOf } from './review';
import type { PackageStatus } from './schemas';

/**
 * The package can no longer be picked up: 409 once it has been (a concurrent pickup sees "already
 * picked up"), 410 when it was declined, withdrawn, locked or expired.
 */
export class PackageEnded extends DomainError {
  constructor(
    readonly status: Exclude<PackageStatus, 'pending'>,
    message: string,
  ) {
    super(status === 'picked_up' ? 'conflict' : 'gone', message, status === 'picked_up' ? 'already_picked_up' : `package_${status}`);
  }
}

/** The answer did not open the package; `triesLeft` before it locks. */
export class WrongAnswer extends Invalid {
  constructor(readonly triesLeft: number) {
    super(`That answer is not right. You have ${triesLeft} more ${triesLeft === 1 ? 'try' : 'tries'} before the package is locked.`, 'wrong_answer');
  }
}

/** Why a package that is not pending cannot be picked up, in the words the code page shows. */
export function endedError(status: Exclude<PackageStatus, 'pending'>, sender: string, expiresAt: Date): PackageEnded {
  const again = `Ask ${sender} to send it again if you still need it.`;
  const message: Record<typeof status, string> = {
    picked_up: 'This package has already been picked up.',
    declined: 'This package was declined; its contents were deleted.',
    expired: `This package expired on ${dayOf(expiresAt)}, ${UNUSED_DAYS} days after ${sender} dropped it off; its contents were deleted. ${again}`,
    locked: `This package is locked because the answer was wrong ${WRONG_ANSWERS_TO_LOCK} times; its contents were deleted. ${again}`,
    withdrawn: `${sender} withdrew this package; there is nothing to pick up.`,
  };
  return new PackageEnded(status, message[status]);
}
