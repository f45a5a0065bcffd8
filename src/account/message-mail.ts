/**
 * "Email me when a message arrives": a person's choice, off for every new account and open only
 * once their email is confirmed (a mail about their inbox goes only to an address known to be
 * theirs). When a Direct message arrives in an inbox they look after, each custodian who turned it
 * on gets one mail — at most one per `message-mail-person` window, later messages being covered by
 * the earlier mail — that says only that a message arrived in the record's inbox and links to
 * /inbox: no sender, no subject, nothing of the message (the mail leaves carevault's protection).
 */
import type { AuditLog } from '../audit/service';
import type { Database } from '../db';
import { Conflict, TooManyAttempts } from '../errors';
import type { Person } from '../accounts/person';
import { log } from '../log';
import type { Mailer } from '../mail';
import type { RecordEvent } from '../record-events';
import type { RecordService } from '../records/service';
import type { Rate } from '../security/limiters';
import type { MessageMailStore } from './store';
import { messageArrivedMail, MESSAGE_MAIL_UNCONFIRMED } from './words';

type Deps = {
  db: Database;
  audit: AuditLog;
  store: MessageMailStore;
  /** The record's name as its custodian sees it (its Patient's). */
  records: Pick<RecordService, 'recordFor'>;
  mailer: Mailer;
  issuer: string;
  limit: Rate;
};

export function createMessageMail({ db, audit, store, records, mailer, issuer, limit }: Deps) {
  /** Mails one custodian, unless they were told within the window. */
  const tell = async (personId: string, email: string, recordIds: readonly string[]) => {
    try {
      await limit.consume(personId);
    } catch (error) {
      // Told a short while ago: that mail already sends them to /inbox, where this one waits too.
      if (error instanceof TooManyAttempts) return;
      throw error;
    }
    const names = new Set<string>();
    for (const recordId of recordIds) names.add((await records.recordFor(personId, recordId)).name);
    await mailer.send(messageArrivedMail(email, [...names], `${issuer}/inbox`));
  };

  return {
    isOn(person: Person): Promise<boolean> {
      return store.isOn(person.id);
    },

    /**
     * Turns the mails on or off. @throws Conflict when turning them on before the email is
     * confirmed (turning them off is always allowed).
     */
    async set(person: Person, on: boolean): Promise<void> {
      if (on && !person.emailVerified) throw new Conflict(MESSAGE_MAIL_UNCONFIRMED);
      await db.transaction(async () => {
        if (!(await store.set(person.id, on))) return;
        const kind = on ? 'account.message_mail_on' : 'account.message_mail_off';
        await audit.append({ subject: `person:${person.id}`, kind, personId: person.id });
      });
    },

    /** Heard after a delivery committed: mails the custodians who asked, each once per window. */
    async heard(event: RecordEvent): Promise<void> {
      if (event.kind !== 'direct.received') return;
      const byPerson = new Map<string, { email: string; recordIds: string[] }>();
      for (const row of await store.recipients(event.recordIds)) {
        const entry = byPerson.get(row.person_id) ?? { email: row.email, recordIds: [] };
        entry.recordIds.push(row.record_id);
        byPerson.set(row.person_id, entry);
      }
      // All at once: a slow mail server costs the last custodian one mail's time, not one per custodian
      // before them. One person's failure (a mail server down, a record just let go) leaves the others
      // their mail. Never the address in the log: only that one mail of this kind did not go.
      await Promise.all(
        [...byPerson].map(([personId, { email, recordIds }]) =>
          tell(personId, email, recordIds).catch((error: unknown) =>
            log.warn('a new-message mail could not be sent', { error: error instanceof Error ? error.name : 'unknown' }),
          ),
        ),
      );
    },
  };
}

export type MessageMail = ReturnType<typeof createMessageMail>;
