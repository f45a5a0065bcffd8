/**
 * The person acting: one shape for a signed-in person wherever a service takes one (pages, the
 * OpenID core's claims, a record's history), and one shape for whoever writes into a record — an
 * app by its client id, or a person by id and name (the name is what the record's history shows).
 */

/**
 * A person with an account; `emailVerified` once they followed a link mailed to that email;
 * `timeZone` is the IANA zone their browser reported (their pages show times in it), absent until known.
 */
export type Person = Readonly<{ id: string; name: string; email: string; emailVerified: boolean; timeZone?: string | undefined }>;

/** Who acts on a record through the record repository. */
export type Actor = Readonly<{ kind: 'app'; clientId: string }> | Readonly<{ kind: 'person'; personId: string; name: string }>;

/** The person as the actor of a record write or read. */
export function personActor(person: Pick<Person, 'id' | 'name'>): Actor {
  return { kind: 'person', personId: person.id, name: person.name };
}
