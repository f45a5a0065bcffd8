/**
 * What the OpenID core supports — client authentication methods, grant types and algorithms — in
 * one place: the provider is configured from it, and the SMART discovery document, app
 * registration and the resource servers' DPoP checks read it, so they cannot disagree.
 */

export const CLIENT_AUTH_METHODS = ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];

/** Methods with which an app proves who it is (confidential apps). */
export const CONFIDENTIAL_AUTH_METHODS: readonly ClientAuthMethod[] = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];

/** The device authorization grant (RFC 8628), on which Patient Connect rides. */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials', DEVICE_CODE_GRANT] as const;

/** carevault signs ID tokens and responses with these (SMART needs RS256). */
export const SIGNING_ALGS = ['RS256', 'ES256'] as const;

/**
 * Algorithms accepted for `private_key_jwt` client assertions. An Ed25519 key signs as `Ed25519`
 * (RFC 9864, what oauth4webapi sends) or as the older `EdDSA`; both are taken.
 */
export const CLIENT_ASSERTION_ALGS = ['RS256', 'RS384', 'PS256', 'ES256', 'ES384', 'Ed25519', 'EdDSA'] as const;

/** Algorithms accepted for signed request objects (PAR, JAR). */
export const REQUEST_OBJECT_ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;

/** Algorithms accepted for DPoP proofs, at the token endpoint and at the resource servers (RFC 9449). */
export const DPOP_ALGS = ['ES256', 'Ed25519', 'EdDSA', 'PS256', 'RS256'] as const;
