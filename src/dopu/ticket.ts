/**
 * The pickup ticket: what the pages carry between "Answer" and "Accept" instead of keeping anything
 * decrypted on the server. It holds the package key (derived from the answer — never the
 * answer itself, which a person may use elsewhere), the package and the person it was issued to,
 * and when it ends; sealed as a compact JWE (dir, A256GCM) under a key derived from carevault's
 * cookie key, so only this server can open it and nobody can change it. A ticket is useless
 * without the package row, and the row is emptied once the package is picked up or ends.
 */
import { hkdfSync } from 'node:crypto';
import { CompactEncrypt, compactDecrypt } from 'jose';

/** Time to go from the answer to Accept. */
export const TICKET_SECONDS = 30 * 60;

export type Ticket = { packageId: string; personId: string; key: Buffer };

type Sealed = { p: string; s: string; k: string; e: number };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function createTicketSealer(serverSecret: string, clock: () => Date) {
  const key = new Uint8Array(hkdfSync('sha256', serverSecret, 'carevault', 'dopu pickup ticket v1', 32));
  const nowSeconds = () => Math.floor(clock().getTime() / 1000);

  return {
    async seal(ticket: Ticket): Promise<string> {
      const payload: Sealed = { p: ticket.packageId, s: ticket.personId, k: ticket.key.toString('base64url'), e: nowSeconds() + TICKET_SECONDS };
      return new CompactEncrypt(encoder.encode(JSON.stringify(payload)))
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: 'carevault-pickup' })
        .encrypt(key);
    },

    /** The ticket, or `undefined` when it is not one of ours, has ended, or names someone else. */
    async open(value: string, personId: string): Promise<Ticket | undefined> {
      try {
        const { plaintext } = await compactDecrypt(value, key);
        const sealed = JSON.parse(decoder.decode(plaintext)) as Partial<Sealed>;
        if (typeof sealed.p !== 'string' || typeof sealed.k !== 'string' || sealed.s !== personId) return undefined;
        if (typeof sealed.e !== 'number' || sealed.e < nowSeconds()) return undefined;
        return { packageId: sealed.p, personId, key: Buffer.from(sealed.k, 'base64url') };
      } catch {
        return undefined;
      }
    },
  };
}

export type TicketSealer = ReturnType<typeof createTicketSealer>;
