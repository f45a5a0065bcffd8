/**
 * Who is signed in, for carevault's own pages: read from oidc-provider's session, the single
 * session behind both the authorization pages and the person's pages.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';

export function createSessions(current: () => Provider, secure: boolean) {
  return {
    /** The signed-in person's id and the uid of their sign-in session (not secret), or `undefined`. */
    async signedIn(req: IncomingMessage, res: ServerResponse): Promise<{ accountId: string; sessionUid: string } | undefined> {
      const session = await current().Session.get({ req, res, secure } as never);
      return session.accountId ? { accountId: session.accountId, sessionUid: session.uid } : undefined;
    },
  };
}
