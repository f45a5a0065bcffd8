/**
 * **Close account**: the person's right to erasure (GDPR Art. 17), after their right of access
 * (the confirmation page offers **Download my record** first). Confirmed with the password (wrong
 * ones limited per person, like a password change) and, when the person has one, the second step
 * of their sign-in. Then, in one transaction: every authorization the person made ends and every
 * grant, code, token and session of theirs is deleted (RFC 7009's revocation, at once, with no
 * token left to refresh); every record only they look after is erased — features erase what they
 * keep for it through their `recordErased` hook — while a record someone else also looks after
 * stays with them; the person row goes, so the email can register again as a new person; and one
 * audit line without health data says an account was closed.
 */
import type { Person } from '../accounts/person';
import type { SecondStep } from '../accounts/service';
import type { Core } from '../feature';
import { WrongCredentials } from '../errors';
import type { Limit } from '../security/limiters';
import { WRONG_PASSWORD_TO_CLOSE } from './closing-words';

/** One record as the confirmation page shows it: erased, or staying with the others who look after it. */
export type ClosingRecord = { id: string; name: string; relationship: string; stays: boolean };

type Deps = Pick<Core, 'db' | 'audit' | 'records'> & {
  accounts: Pick<Core['accounts'], 'passwordMatches' | 'remove' | 'findPerson'>;
  authorizations: Pick<Core['authorizations'], 'accountClosed'>;
  oidcStorage: Pick<Core['oidcStorage'], 'endEverythingOf'>;
  limit: Limit;
  /** The second step of sign-in, asked again before an account closes; without it the password alone confirms. */
  secondStep?: SecondStep | undefined;
};

export function createAccountClosing({ db, audit, records, accounts, authorizations, oidcStorage, limit, secondStep }: Deps) {
  return {
    /** The person's records, each saying whether it would be erased or stay with someone else. */
    async plan(personId: string): Promise<ClosingRecord[]> {
      const held = await records.recordsOf(personId);
      const shared = new Set(await records.sharedOf(personId));
      return held.map((record) => ({ id: record.id, name: record.name, relationship: record.relationship, stays: shared.has(record.id) }));
    },

    /** Whether closing asks for the second step too. */
    async asksSecondStep(personId: string): Promise<boolean> {
      return secondStep ? secondStep.isOn(personId) : false;
    },

    /** Whether the person can give that second step with a passkey. */
    async offersPasskey(personId: string): Promise<boolean> {
      return secondStep?.passkeys ? secondStep.passkeys.has(personId) : false;
    },

    /**
     * Closes the account once the password (and second step: a code, or a passkey's answer) are right; `already` when a request
     * racing this one closed it first (it is closed once: one audit line).
     * @throws WrongCredentials for a wrong password; TooManyAttempts while locked.
     */
    async close(person: Person, confirm: { password: string; secondStep?: string | undefined; passkey?: string | undefined }): Promise<'closed' | 'already'> {
      // Checked outside any transaction: the limit takes its own connection.
      const attempt = await limit.take(person.id);
      if (!(await accounts.findPerson(person.id))) {
        await attempt.giveBack();
        return 'already';
      }
      if (!(await accounts.passwordMatches(person.id, confirm.password))) {
        await attempt.failed();
        throw new WrongCredentials(WRONG_PASSWORD_TO_CLOSE);
      }
      await attempt.giveBack();
      if (secondStep && (await secondStep.isOn(person.id))) {
        if (confirm.passkey && secondStep.passkeys) await secondStep.passkeys.verify(confirm.passkey, { personId: person.id });
        else await secondStep.check(person.id, confirm.secondStep ?? '');
      }
      await limit.reset(person.id);
      return db.transaction(async () => {
        await db.lock(`account-close:${person.id}`);
        if (!(await accounts.findPerson(person.id))) return 'already';
        await authorizations.accountClosed(person.id);
        await oidcStorage.endEverythingOf(person.id);
        const { erased, kept } = await records.leaveAll(person.id);
        for (const recordId of kept) {
          await audit.append({ recordId, kind: 'account.custodian_left', details: { person_name: person.name } });
        }
        await accounts.remove(person.id);
        await audit.append({
          subject: `person:${person.id}`,
          kind: 'account.closed',
          personId: person.id,
          details: { records_erased: erased, records_kept: kept.length },
        });
        return 'closed';
      });
    },
  };
}

export type AccountClosing = ReturnType<typeof createAccountClosing>;
