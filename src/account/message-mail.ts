/**
 * "Email me when a message arrives": a person's choice, off for every new account and open only
 * once their email is confirmed (a mail about their inbox goes only to an address known to be
 * theirs). When a Direct message arrives in an inbox they look after, each custodian who turned it
 * on gets one mail — at most one per `message-mail-person` window, later messages being covered by
 * the earlier mail — that says only that a message arrived in the record's inbox and links to
 * /inbox: no sender, no subject, nothing of the message (the mail leaves carevault's protection).
 */
import { Conflict, TooManyAttempts } from '../errors';
import type { Person } from '../accounts/person';
import { log } from '../log';
import type { Mailer } from '../mail';
import type { RecordEvent } from '../record-events';
import type { Rate } from '../security/limiters';
import type { MessageMailStore } from './store';
import { messageArrivedMail, MESSAGE_MAIL_UNCONFIRMED } from './words';

type Deps = { store: MessageMailStore; mailer: Mailer; issuer: string; limit: Rate };

export function createMessageMail({ store, mailer, issuer, limit }: Deps) {
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
      await store.set(person.id, on);
    },

    /** Heard after a delivery committed: mails the custodians who asked, each once per window. */
    async heard(event: RecordEvent): Promise<void> {
      if (event.kind !== 'direct.received') return;
      const byPerson = new Map<string, { email: string; records: string[] }>();
      for (const row of await store.recipients(event.recordIds)) {
        const entry = byPerson.get(row.person_id) ?? { email: row.email, records: [] };
        if (!entry.records.includes(row.record_name)) entry.records.push(row.record_name);
        byPerson.set(row.person_id, entry);
      }
      for (const [personId, { email, records }] of byPerson) {
        try {
          await limit.consume(personId);
        } catch (error) {
          // Told a short while ago: that mail already sends them to /inbox, where this one waits too.
          if (error instanceof TooManyAttempts) continue;
          throw error;
        }
        // Never the address in the log: only that one mail of this kind did not go.
        await mailer
          .send(messageArrivedMail(email, records, `${issuer}/inbox`))
          .catch((error: unknown) => log.warn('a new-message mail could not be sent', { error: error instanceof Error ? error.name : 'unknown' }));
      }
    },
  };
}

export type MessageMail = ReturnType<typeof createMessageMail>;
