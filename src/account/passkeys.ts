/**
 * Passkeys (WebAuthn Level 3, through @simplewebauthn/server): a person adds several, each named,
 * and signs in with one alone (a discoverable credential: the browser offers the person's passkeys,
 * no email typed) or uses one as the second step after the password. Every ceremony requires user
 * verification (§5.8.6), so a passkey is itself two factors: something held and a PIN or biometric.
 * The relying party is the ISSUER's host and its origin. Each challenge lives in the database (any
 * instance may receive the answer), bound to what it is for, used once and for 5 minutes at most.
 * The signature counter is checked by the library (a counter that goes back means a cloned
 * authenticator, §6.1.1) and moved forward with a conditional update. A synced passkey
 * (backup-eligible, "multi-device") is a software key in `amr` (`swk`, RFC 8176 §2), one bound to
 * its device a hardware key (`hwk`).
 */
import { randomUUID } from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { z } from 'zod';
import type { Person } from '../accounts/person';
import type { PasskeyBinding, PasskeySignIn } from '../accounts/service';
import type { AuditLog } from '../audit/service';
import { isUniqueViolation, type Database } from '../db';
import { Conflict, Invalid, NotFound, WrongCredentials } from '../errors';
import type { ChallengePurpose, PasskeyStore } from './passkey-store';
import type { TwoStep } from './two-step';

/** How long a ceremony may take, from the options to the answer. */
const CHALLENGE_SECONDS = 5 * 60;

const ENDED = 'This passkey request has ended or was already used. Try again.';
const NOT_ACCEPTED = 'That passkey was not accepted. Try again, or use another way to sign in.';
const NO_ANSWER = 'Your browser did not send a passkey. Try again, or use another way to sign in.';

const base64url = z
  .string()
  .regex(/^[A-Za-z0-9_-]+={0,2}$/)
  .max(16_000);

/** What navigator.credentials.create() answered, as the page's script sends it (WebAuthn Level 3 §5.1, toJSON()). */
const registrationAnswer = z.object({
  id: base64url,
  rawId: base64url,
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: base64url,
    attestationObject: base64url,
    transports: z.array(z.string().max(32)).max(10).optional(),
  }),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
});

/** What navigator.credentials.get() answered. */
const authenticationAnswer = z.object({
  id: base64url,
  rawId: base64url,
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: base64url,
    authenticatorData: base64url,
    signature: base64url,
    userHandle: base64url.optional(),
  }),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
});

type Deps = {
  db: Database;
  audit: AuditLog;
  store: PasskeyStore;
  twoStep: TwoStep;
  /** The ISSUER setting: its host is the relying party id, its origin the only one accepted. */
  issuer: string;
  clock: () => Date;
  /** Checks the person's password (wrong ones limited) before a passkey is removed. */
  confirmPassword(personId: string, password: string): Promise<void>;
};

/** A passkey as the account page lists it. */
export type PasskeyView = { id: string; name: string; addedAt: Date; lastUsedAt: Date | undefined };

/** The challenge the browser signed, read from its client data (checked again by the library). */
function challengeOf(clientDataJSON: string): string {
  try {
    const data: unknown = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8'));
    const challenge = typeof data === 'object' && data !== null ? (data as Record<string, unknown>).challenge : undefined;
    return typeof challenge === 'string' ? challenge : '';
  } catch {
    return '';
  }
}

/** The answer the page sent (a JSON text), or a refusal saying the browser sent none. */
function parseAnswer<T extends z.ZodType>(schema: T, text: string): z.infer<T> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Invalid(NO_ANSWER, 'no_passkey');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new Invalid(NO_ANSWER, 'no_passkey');
  return parsed.data;
}

const bindingOf = (bound: PasskeyBinding) => ('personId' in bound ? `person:${bound.personId}` : `interaction:${bound.interaction}`);

export function createPasskeys({ db, audit, store, twoStep, issuer, clock, confirmPassword }: Deps) {
  const rpID = new URL(issuer).hostname;
  const origin = new URL(issuer).origin;

  const saveChallenge = async (challenge: string, purpose: ChallengePurpose, boundTo: string) => {
    await store.saveChallenge(challenge, purpose, boundTo, new Date(clock().getTime() + CHALLENGE_SECONDS * 1000));
  };

  /** Takes the challenge the answer signed, once, for this purpose and binding; its value for the library. */
  const takeChallenge = async (clientDataJSON: string, purpose: ChallengePurpose, boundTo: string): Promise<string> => {
    const challenge = challengeOf(clientDataJSON);
    if (!challenge || !(await store.takeChallenge(challenge, purpose, boundTo, clock()))) throw new Invalid(ENDED, 'passkey_challenge_ended');
    return challenge;
  };

  const signIn: PasskeySignIn = {
    async has(personId) {
      return (await store.countOf(personId)) > 0;
    },

    async options(bound) {
      const allowCredentials =
        'personId' in bound
          ? (await store.listOf(bound.personId)).map((row) => ({ id: row.credential_id, transports: row.transports ? row.transports.split(',') : [] }))
          : undefined;
      const options = await generateAuthenticationOptions({
        rpID,
        userVerification: 'required',
        timeout: CHALLENGE_SECONDS * 1000,
        ...(allowCredentials ? { allowCredentials } : {}),
      });
      await saveChallenge(options.challenge, 'personId' in bound ? 'second-step' : 'sign-in', bindingOf(bound));
      return options;
    },

    async verify(text, bound) {
      const answer = parseAnswer(authenticationAnswer, text);
      const challenge = await takeChallenge(answer.response.clientDataJSON, 'personId' in bound ? 'second-step' : 'sign-in', bindingOf(bound));
      const row = await store.byCredentialId(answer.id);
      if (!row) throw new WrongCredentials(NOT_ACCEPTED);
      if ('personId' in bound && row.person_id !== bound.personId) throw new WrongCredentials(NOT_ACCEPTED);
      // A discoverable credential names its person (the user handle given at registration): it must be the passkey's.
      const handle = answer.response.userHandle ? Buffer.from(answer.response.userHandle, 'base64url').toString('utf8') : undefined;
      if (handle !== undefined && handle !== row.person_id) throw new WrongCredentials(NOT_ACCEPTED);
      const counter = Number(row.counter);
      let result: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
      try {
        result = await verifyAuthenticationResponse({
          response: answer as AuthenticationResponseJSON,
          expectedChallenge: challenge,
          expectedOrigin: origin,
          expectedRPID: rpID,
          requireUserVerification: true,
          credential: {
            id: row.credential_id,
            publicKey: new Uint8Array(Buffer.from(row.public_key, 'base64url')),
            counter,
            ...(row.transports ? { transports: row.transports.split(',') } : {}),
          },
        });
      } catch {
        throw new WrongCredentials(NOT_ACCEPTED);
      }
      if (!result.verified || !result.authenticationInfo.userVerified) throw new WrongCredentials(NOT_ACCEPTED);
      if (!(await store.used(row.id, counter, result.authenticationInfo.newCounter, clock()))) throw new WrongCredentials(NOT_ACCEPTED);
      return { personId: row.person_id, kind: result.authenticationInfo.credentialDeviceType === 'multiDevice' ? 'swk' : 'hwk' };
    },
  };

  return {
    signIn,

    async list(personId: string): Promise<PasskeyView[]> {
      return (await store.listOf(personId)).map((row) => ({ id: row.id, name: row.name, addedAt: row.created_at, lastUsedAt: row.last_used_at ?? undefined }));
    },

    async find(personId: string, id: string): Promise<PasskeyView | undefined> {
      const row = (await store.listOf(personId)).find((passkey) => passkey.id === id);
      return row ? { id: row.id, name: row.name, addedAt: row.created_at, lastUsedAt: row.last_used_at ?? undefined } : undefined;
    },

    /** Options for navigator.credentials.create(): a discoverable credential, user verification required, none of the person's passkeys again. */
    async registrationOptions(person: Person) {
      const existing = await store.listOf(person.id);
      const options = await generateRegistrationOptions({
        rpName: 'carevault',
        rpID,
        userName: person.email,
        userDisplayName: person.name,
        // The user handle: the person's id (random, no personal data), which a discoverable credential returns at sign-in.
        userID: new TextEncoder().encode(person.id),
        attestationType: 'none',
        timeout: CHALLENGE_SECONDS * 1000,
        excludeCredentials: existing.map((row) => ({ id: row.credential_id, transports: row.transports ? row.transports.split(',') : [] })),
        authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      });
      await saveChallenge(options.challenge, 'register', `person:${person.id}`);
      return options;
    },

    /**
     * Adds the passkey the browser made, under the person's name for it. When it is the person's
     * first second step, two-step sign-in turns on and here are their new recovery codes (else none).
     */
    async add(person: Person, name: string, text: string): Promise<string[] | undefined> {
      const answer = parseAnswer(registrationAnswer, text);
      const challenge = await takeChallenge(answer.response.clientDataJSON, 'register', `person:${person.id}`);
      let result: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
      try {
        result = await verifyRegistrationResponse({
          response: answer as RegistrationResponseJSON,
          expectedChallenge: challenge,
          expectedOrigin: origin,
          expectedRPID: rpID,
          requireUserVerification: true,
        });
      } catch {
        throw new Invalid('That passkey could not be added. Try again.', 'passkey_refused');
      }
      if (!result.verified) throw new Invalid('That passkey could not be added. Try again.', 'passkey_refused');
      const { credential, credentialDeviceType } = result.registrationInfo;
      try {
        return await db.transaction(async () => {
          const first = !(await twoStep.isOn(person.id));
          await store.insert({
            id: randomUUID(),
            person_id: person.id,
            credential_id: credential.id,
            public_key: Buffer.from(credential.publicKey).toString('base64url'),
            counter: credential.counter,
            backup_eligible: credentialDeviceType === 'multiDevice',
            transports: (credential.transports ?? []).join(','),
            name,
            created_at: clock(),
          });
          await audit.append({ subject: `person:${person.id}`, kind: 'account.passkey_added', personId: person.id });
          if (!first) return undefined;
          await audit.append({ subject: `person:${person.id}`, kind: 'account.two_step_on_passkey', personId: person.id });
          return twoStep.newRecoveryCodes(person.id);
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw new Conflict('That passkey is already added.', 'passkey_taken');
        throw error;
      }
    },

    /** Removes one of the person's passkeys once their password is right; the last second step gone, two-step sign-in is off (answers whether it is still on). */
    async remove(person: Person, id: string, password: string): Promise<boolean> {
      await confirmPassword(person.id, password);
      return db.transaction(async () => {
        if (!(await store.remove(person.id, id))) throw new NotFound('That passkey is already removed.');
        await audit.append({ subject: `person:${person.id}`, kind: 'account.passkey_removed', personId: person.id });
        return twoStep.afterFactorRemoved(person.id);
      });
    },

    sweep: () => store.sweepChallenges(clock()),
  };
}

export type Passkeys = ReturnType<typeof createPasskeys>;
