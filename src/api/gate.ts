/**
 * One bearer gate for `/fhir` and `/api/*`: it parses `Authorization` (Bearer or DPoP), finds the
 * access token (oidc/access-tokens.ts: an app's client-credentials token, or a person's token for
 * an app, self-contained; a person's token for identity alone, stored), enforces DPoP binding (RFC
 * 9449 §7: a bound token needs the DPoP scheme and a valid proof for this method and URL; presented
 * as Bearer it is refused), and hands the route an already-resolved caller. A person's
 * self-contained token is live only while its grant is: the gate reads that on its own (one query),
 * or, for the record's reads and writes that take it along (`forRecordData`), leaves it to the
 * statement that does the work (none). A DPoP proof adds one query.
 */
import type { Request, RequestHandler, Response } from 'express';
import type { AccessTokenFacts } from '../oidc/storage';
import type { Capability } from '../rules/scopes';
import type { TokenLiveness } from '../oidc/store';
import { verifyProof } from './dpop';
import { InsufficientScope, InvalidToken, type Scheme } from './errors';
import { recordLiveness, type RecordLiveness } from './liveness';

/** A resolved token; `liveness` is there while a person's token's liveness is still to be read in this request. */
export type Caller = Omit<AccessTokenFacts, 'liveness'> & { scheme: Scheme; liveness: RecordLiveness | undefined };

/** A person's token for a record: what the FHIR API acts on. */
export type RecordCaller = Caller & { kind: 'person'; recordId: string };

/** An app's own client-credentials token: what the app APIs act on. */
export type AppCaller = Caller & { kind: 'app' };

type TokenLookup = {
  findAccessToken(value: string): Promise<AccessTokenFacts | undefined>;
  isLive(liveness: TokenLiveness): Promise<boolean>;
  firstUseOfProof(id: string, until: Date): Promise<boolean>;
};

const NOT_LIVE = 'The access token is not valid: it expired or was revoked.';

const AUTHORIZATION = /^(Bearer|DPoP)[ ]+([^\s]+)[ ]*$/i;

export function createBearerGate({ tokens, issuer }: { tokens: TokenLookup; issuer: string }) {
  async function resolve(req: Request): Promise<Caller> {
    const match = AUTHORIZATION.exec(req.get('Authorization') ?? '');
    if (!match?.[1] || !match[2]) throw new InvalidToken('An access token is required (Authorization: Bearer … or DPoP …).', false);
    const scheme: Scheme = match[1].toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
    const value = match[2];
    const token = await tokens.findAccessToken(value);
    if (!token) throw new InvalidToken(NOT_LIVE, true, scheme);
    if (scheme === 'DPoP') {
      const thumbprint = await verifyProof({
        proof: req.get('DPoP'),
        accessToken: value,
        method: req.method,
        url: `${issuer}${req.originalUrl.split('?')[0] ?? ''}`,
        firstUse: tokens.firstUseOfProof,
      });
      if (token.jkt && thumbprint !== token.jkt) {
        throw new InvalidToken('The DPoP proof was made with another key than the one the access token is bound to.', true, 'DPoP');
      }
    } else if (token.jkt) {
      throw new InvalidToken('This access token is bound to a DPoP key: send it as Authorization: DPoP, with a DPoP proof.', true, 'DPoP');
    }
    const { liveness, ...facts } = token;
    return { ...facts, scheme, liveness: liveness && recordLiveness(liveness, tokens.isLive, () => new InvalidToken(NOT_LIVE, true, scheme)) };
  }

  /** A person's token that reaches a record; its liveness read now unless `withData`. */
  const recordGate = (withData: boolean): RequestHandler =>
    (async (req, res, next) => {
      const caller = await resolve(req);
      if (caller.kind !== 'person' || !caller.recordId) throw new InvalidToken('The access token does not reach any record.', true, caller.scheme);
      if (!withData) await caller.liveness?.settle();
      res.locals.caller = caller as RecordCaller;
      next();
    }) as RequestHandler;

  return {
    /** Lets through a live person's token that reaches a record; `res.locals.caller` is its RecordCaller. */
    forRecords: recordGate(false),

    /**
     * The same, for a route whose work is the record repository's alone (repository.ts takes the
     * caller's `liveness`): the token's liveness is read in the statement that does the work, and a
     * token found not live is refused there, before anything is read or written. A refusal that
     * comes first (a bad body, a missing scope) reads the liveness before it is answered
     * (`settleBeforeRefusing`), so a token that ended learns only that.
     */
    forRecordData: recordGate(true),

    /** Lets through an app's client-credentials token holding `capability`; `res.locals.caller` is its AppCaller. */
    forApps(capability: Capability): RequestHandler {
      return async (req, res, next) => {
        const caller = await resolve(req);
        await caller.liveness?.settle();
        if (caller.kind !== 'app' || !caller.scopes.includes(capability)) {
          throw new InsufficientScope(
            `This API needs a client-credentials token with the scope ${capability}, for an app registered with that capability.`,
            capability,
            caller.scheme,
          );
        }
        res.locals.caller = caller as AppCaller;
        next();
      };
    },
  };
}

export type BearerGate = ReturnType<typeof createBearerGate>;

export function recordCallerOf(res: Response): RecordCaller {
  return res.locals.caller as RecordCaller;
}

export function appCallerOf(res: Response): AppCaller {
  return res.locals.caller as AppCaller;
}

/**
 * `error`, or the refusal of a token found not live, for a request refused while its token's
 * liveness was still to be read (`forRecordData`): the token's end is what its holder hears.
 */
export async function settleBeforeRefusing(res: Response, error: unknown): Promise<unknown> {
  const caller = res.locals.caller as Caller | undefined;
  if (!caller?.liveness || error instanceof InvalidToken) return error;
  try {
    await caller.liveness.settle();
    return error;
  } catch (refusal) {
    return refusal instanceof InvalidToken ? refusal : error;
  }
}
