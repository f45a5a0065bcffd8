/**
 * Inside Jest, Node's structuredClone returns objects of the outer realm, and oidc-provider's
 * `constructor === Object` checks then fail (e.g. "client JSON Web Key Set is invalid"). This
 * replaces it, for tests only, with a clone that builds objects in the test realm.
 */
const nativeClone = globalThis.structuredClone;

function sameRealm(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sameRealm);
  if (value instanceof Date) return new Date(value.getTime());
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (value && typeof value === 'object' && !(value instanceof Map) && !(value instanceof Set)) {
    return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, sameRealm(entry)]));
  }
  return value;
}

globalThis.structuredClone = ((value: unknown, options?: StructuredSerializeOptions) => sameRealm(nativeClone(value, options))) as typeof structuredClone;

// oidc-provider warns once at import that Node 20 is not its supported runtime; tests run on 20.
const warn = console.warn.bind(console);
console.warn = (...args: unknown[]) => {
  if (typeof args[0] === 'string' && args[0].includes('Unsupported runtime')) return;
  warn(...args);
};
