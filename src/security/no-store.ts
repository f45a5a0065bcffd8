/**
 * `Cache-Control: no-store` on every answer except the static files: pages show health records,
 * APIs return records and tokens, and a shared or browser cache must keep none of them (RFC 9111
 * §5.2.2.5; RFC 6749 §5.1 for tokens; SMART App Launch asks the same of FHIR responses). The
 * handful of public documents (discovery, JWKS, CapabilityStatement) lose nothing by it that
 * matters. A handler that knows better may still set its own.
 */
import { pathOf, type FrontStep } from '../http/front';

export function noStore(staticPrefix: string): FrontStep {
  const prefix = `${staticPrefix}/`;
  return (req, res, next) => {
    if (!pathOf(req).startsWith(prefix)) res.setHeader('Cache-Control', 'no-store');
    next();
  };
}
