/**
 * Jest compiles TypeScript and the ESM-only packages (oidc-provider, jose, openid-client,
 * oauth4webapi, fhir-kit-client, @sparticuz/chromium, github-slugger, and otplib's @scure/base and @noble/hashes) to CommonJS with swc; `npm run typecheck` does the type-checking.
 */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(t|j|mj)s$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'commonjs' },
      },
    ],
  },
  transformIgnorePatterns: [
    '/node_modules/(?!(oidc-provider|jose|openid-client|oauth4webapi|fhir-kit-client|@sparticuz/chromium|github-slugger|@scure/base|@noble/hashes)/)',
  ],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  // fhir-kit-client exports only an `import` condition, which Jest's CommonJS resolver does not try.
  moduleNameMapper: { '^fhir-kit-client$': '<rootDir>/node_modules/fhir-kit-client/dist/index.js' },
  setupFiles: ['<rootDir>/test/support/same-realm-clone.ts'],
  testTimeout: 60_000,
  maxWorkers: 2,
};
