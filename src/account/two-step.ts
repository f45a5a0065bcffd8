/**
 * Two-step sign-in: an authenticator app (TOTP, RFC 6238, through otplib: 6 digits, 30 seconds,
 * SHA-1, as every authenticator app reads an otpauth:// URI) and ten one-time recovery codes.
 * The app's secret is sealed (AES-256-GCM) under the server's keys (server-keys.ts) before it is
 * stored and only opened to check a code; recovery codes are random (80 bits), shown once and kept as SHA-256. A code is
 * accepted once: the newest accepted time step is kept, and an older or equal one is refused
 * (RFC 6238 §5.2). Wrong codes count against the account (`two-step-person`: 5 per 15 minutes).
 * Two-step sign-in is on while the person has a confirmed app or a passkey (passkeys.ts); the app is
 * removed with the password and a current code, and once no second step is left the recovery codes go.
 */
import { randomBytes } from 'node:crypto';
import { generateSecret, generateURI, verify } from 'otplib';
import { toString as qrSvg } from 'qrcode';
import type { Person } from '../accounts/person';
import type { AuditLog } from '../audit/service';
import type { Database } from '../db';
import { Conflict, Invalid, WrongCredentials } from '../errors';
import { credentialKey } from '../security/credential-keys';
import type { PersonSealing } from './server-keys';
import type { Limit } from '../security/limiters';
import type { TwoStepStore } from './two-step-store';

/** How many recovery codes a person holds after each setup or renewal. */
const RECOVERY_CODE_COUNT = 10;

/** A code from one 30-second step before or after now still counts (clocks drift, people type slowly). */
const TOLERANCE_SECONDS = 30;

const WRONG_CODE = 'That code is not right. Type the 6 digits your authenticator app shows now, or one of your recovery codes.';
const USED_CODE = 'That code was already used. Wait for your authenticator app to show the next one.';

type Deps = {
  db: Database;
  audit: AuditLog;
  store: TwoStepStore;
  limit: Limit;
  issuerName: string;
  clock: () => Date;
  /** How the app secrets are sealed under the server's keys. */
  sealing: PersonSealing;
  /** How many passkeys the person has: each is a second step too. */
  passkeyCount(personId: string): Promise<number>;
  /** Checks the person's password (wrong ones limited) before a second step is removed. */
  confirmPassword(personId: string, password: string): Promise<void>;
};

/** What the account page shows of a person's two-step sign-in: on with an authenticator app, passkeys, or both. */
export type TwoStepState = { on: boolean; app: boolean; since: Date | undefined; recoveryCodesLeft: number };

/** An unconfirmed setup: the secret as text and as a QR code (SVG markup). */
export type Setup = { secret: string; qr: string };

/** Lower case, without the spaces and dashes people type between groups. */
function normalise(code: string): string {
  return code.replace(/[\s-]/g, '').toLowerCase();
}

/** A recovery code: 16 base32 letters and digits, shown in four groups. */
function newRecoveryCode(): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyz23456789';
  const bytes = randomBytes(16);
  const letters = [...bytes].map((byte) => alphabet[byte % alphabet.length]).join('');
  return letters.match(/.{4}/g)?.join('-') ?? letters;
}

export function createTwoStep({ db, audit, store, limit, issuerName, clock, sealing, passkeyCount, confirmPassword }: Deps) {
  const { seal, open } = sealing;

  /** The time step of `code` when it is right for `secret` now, else `undefined`. */
  const stepOf = async (secret: string, code: string): Promise<number | undefined> => {
    const result = await verify({ secret, token: code, epoch: Math.floor(clock().getTime() / 1000), epochTolerance: TOLERANCE_SECONDS });
    return result.valid && 'timeStep' in result ? result.timeStep : undefined;
  };

  /** New recovery codes for the person, stored hashed in the current transaction; the codes themselves to show once. */
  const replaceCodes = async (personId: string): Promise<string[]> => {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    await store.replaceRecoveryCodes(
      personId,
      codes.map((code) => credentialKey(normalise(code))),
    );
    return codes;
  };

  const isOn = async (personId: string): Promise<boolean> => Boolean((await store.app(personId))?.confirmed_at) || (await passkeyCount(personId)) > 0;

  /**
   * In the current transaction: once the person has no second step left, their recovery codes go
   * and two-step sign-in is off. Answers whether it is still on.
   */
  const afterFactorRemoved = async (personId: string): Promise<boolean> => {
    if (await isOn(personId)) return true;
    await store.replaceRecoveryCodes(personId, []);
    await audit.append({ subject: `person:${personId}`, kind: 'account.two_step_off', personId });
    return false;
  };

  return {
    isOn,
    afterFactorRemoved,

    /** New recovery codes for the person in the current transaction (their first second step was just added), to show once. */
    newRecoveryCodes: replaceCodes,

    async state(personId: string): Promise<TwoStepState> {
      const app = await store.app(personId);
      const on = await isOn(personId);
      return {
        on,
        app: Boolean(app?.confirmed_at),
        since: app?.confirmed_at ?? undefined,
        recoveryCodesLeft: on ? await store.recoveryCodesLeft(personId) : 0,
      };
    },

    /**
     * Removes the authenticator app once the password and a current code (or a recovery code) are
     * right; with no passkey left, two-step sign-in is off and the recovery codes go too. Answers
     * whether it is still on.
     */
    async removeApp(person: Person, password: string, code: string): Promise<boolean> {
      if (!(await store.app(person.id))?.confirmed_at) throw new Conflict('There is no authenticator app to remove.', 'no_app');
      await confirmPassword(person.id, password);
      await this.check(person.id, code);
      return db.transaction(async () => {
        await store.removeApp(person.id);
        await audit.append({ subject: `person:${person.id}`, kind: 'account.authenticator_removed', personId: person.id });
        return afterFactorRemoved(person.id);
      });
    },

    /** Starts a setup with a new secret (a setup not confirmed yet starts again). */
    async startSetup(person: Person): Promise<void> {
      if (!(await store.startSetup(person.id, seal(person.id, generateSecret()), clock()))) {
        throw new Conflict('An authenticator app is already set up for your account.', 'two_step_on');
      }
    },

    /** The setup waiting to be confirmed, if any. */
    async setup(person: Person): Promise<Setup | undefined> {
      const app = await store.app(person.id);
      if (!app || app.confirmed_at) return undefined;
      const secret = open(person.id, app.secret_sealed);
      if (!secret) return undefined;
      const uri = generateURI({ issuer: issuerName, label: person.email, secret });
      return { secret, qr: await qrSvg(uri, { type: 'svg', margin: 2, errorCorrectionLevel: 'M' }) };
    },

    /** Confirms the setup with a code from the app: two-step sign-in is on, and here are the recovery codes. */
    async confirm(person: Person, code: string): Promise<string[]> {
      const attempt = await limit.take(person.id);
      const app = await store.app(person.id);
      if (!app || app.confirmed_at) {
        await attempt.giveBack();
        throw new Conflict('There is no authenticator app waiting to be confirmed. Start again.', 'no_setup');
      }
      const secret = open(person.id, app.secret_sealed);
      const step = secret && /^\d{6}$/.test(normalise(code)) ? await stepOf(secret, normalise(code)) : undefined;
      if (step === undefined) {
        await attempt.failed();
        throw new Invalid('That code is not right. Type the 6 digits your authenticator app shows now.', 'wrong_code');
      }
      await attempt.giveBack();
      const codes = await db.transaction(async () => {
        if (!(await store.acceptStep(person.id, step, clock()))) throw new Invalid(USED_CODE, 'used_code');
        await audit.append({ subject: `person:${person.id}`, kind: 'account.two_step_on', personId: person.id });
        return replaceCodes(person.id);
      });
      await limit.reset(person.id);
      return codes;
    },

    /** New recovery codes (the old ones stop working), to show once. */
    async renewRecoveryCodes(person: Person): Promise<string[]> {
      return db.transaction(async () => {
        if (!(await isOn(person.id))) throw new Conflict('Two-step sign-in is not on for your account.', 'two_step_off');
        await audit.append({ subject: `person:${person.id}`, kind: 'account.recovery_codes_made', personId: person.id });
        return replaceCodes(person.id);
      });
    },

    /**
     * Checks the second step: a code from the authenticator app (accepted once) or an unused
     * recovery code (then used up). Answers which it was, for `amr`.
     * @throws TooManyAttempts after 5 wrong codes in 15 minutes; WrongCredentials for a wrong or used code.
     */
    async check(personId: string, typed: string): Promise<'otp' | 'recovery'> {
      const attempt = await limit.take(personId);
      const code = normalise(typed);
      const app = await store.app(personId);
      const on = Boolean(app?.confirmed_at);
      // Recovery codes (kept only while two-step sign-in is on, by app or passkey) work even when the app's secret cannot be opened (a server key changed).
      const secret = app && on ? open(personId, app.secret_sealed) : undefined;
      let refusal = WRONG_CODE;
      if (secret && /^\d{6}$/.test(code)) {
        const step = await stepOf(secret, code);
        if (step !== undefined && (await store.acceptStep(personId, step))) {
          await limit.reset(personId);
          return 'otp';
        }
        if (step !== undefined) refusal = USED_CODE;
      } else if (code.length === 16 && (await store.useRecoveryCode(personId, credentialKey(code), clock()))) {
        await limit.reset(personId);
        return 'recovery';
      }
      await attempt.failed();
      throw new WrongCredentials(refusal);
    },
  };
}

export type TwoStep = ReturnType<typeof createTwoStep>;
