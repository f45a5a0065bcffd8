/**
 * One bearer gate for `/fhir` and `/api/*`: it parses `Authorization` (Bearer or DPoP), finds the
 * access token (a person's token issued to an app, stored; or an app's client-credentials token,
 * self-contained and checked for liveness: oidc/access-tokens.ts), enforces
 * DPoP binding (RFC 9449 §7: a bound token needs the DPoP scheme and a valid proof for this method
 * and URL; presented as Bearer it is refused), and hands the route an already-resolved caller.
 * One query for a Bearer token, two with a DPoP proof.
 */
import type { Request, RequestHandler, Response } from 'express';
import type { AccessTokenFacts } from '../oidc/storage';
import type { Capability } from '../rules/scopes';
import { verifyProof } from './dpop';
import { InsufficientScope, InvalidToken, type Scheme } from './errors';

export type Caller = AccessTokenFacts & { scheme: Scheme };

/** A person's token for a record: what the FHIR API acts on. */
export type RecordCaller = Caller & { kind: 'person'; recordId: string };

/** An app's own client-credentials token: what the app APIs act on. */
export type AppCaller = Caller & { kind: 'app' };

type TokenLookup = {
  findAccessToken(value: string): Promise<AccessTokenFacts | undefined>;
  firstUseOfProof(id: string, until: Date): Promise<boolean>;
};

const AUTHORIZATION = /^(Bearer|DPoP)[ ]+([^\s]+)[ ]*$/i;

export function createBearerGate({ tokens, issuer }: { tokens: TokenLookup; issuer: string }) {
  async function resolve(req: Request): Promise<Caller> {
    const match = AUTHORIZATION.exec(req.get('Authorization') ?? '');
    if (!match?.[1] || !match[2]) throw new InvalidToken('An access token is required (Authorization: Bearer … or DPoP …).', false);
    const scheme: Scheme = match[1].toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
    const value = match[2];
    const token = await tokens.findAccessToken(value);
    if (!token) throw new InvalidToken('The access token is not valid: it expired or was revoked.', true, scheme);
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
    return { ...token, scheme };
  }

  return {
    resolve,

    /** Lets through a person's token that reaches a record; `res.locals.caller` is its RecordCaller. */
    forRecords: (async (req, res, next) => {
      const caller = await resolve(req);
      if (caller.kind !== 'person' || !caller.recordId) throw new InvalidToken('The access token does not reach any record.', true, caller.scheme);
      res.locals.caller = caller as RecordCaller;
      next();
    }) as RequestHandler,

    /** Lets through an app's client-credentials token holding `capability`; `res.locals.caller` is its AppCaller. */
    forApps(capability: Capability): RequestHandler {
      return async (req, res, next) => {
        const caller = await resolve(req);
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
