/**
 * Text PostgreSQL can store: no NUL (text and jsonb refuse it) and no lone UTF-16 surrogate (jsonb
 * refuses it). Input carrying either is refused as bad input instead of failing in the database.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;

/** No control characters (tabs and line breaks allowed) and well-formed Unicode. */
export function isCleanText(value: string): boolean {
  return !CONTROL.test(value) && value.isWellFormed();
}

/** Can be stored at all: no NUL and well-formed Unicode. */
export function isStorableText(value: string): boolean {
  return !value.includes('\u0000') && value.isWellFormed();
}

/**
 * The path of the first string in `value` (keys included) that is not storable, or of the first
 * place nested deeper than `maxDepth`; `undefined` when everything is fine.
 */
export function findUnstorable(value: unknown, path = '', maxDepth = 64, depth = 0): { path: string; problem: 'text' | 'depth' } | undefined {
  if (depth > maxDepth) return { path, problem: 'depth' };
  if (typeof value === 'string') return isStorableText(value) ? undefined : { path, problem: 'text' };
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = findUnstorable(item, `${path}[${index}]`, maxDepth, depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const child = path ? `${path}.${key}` : key;
      if (!isStorableText(key)) return { path: child, problem: 'text' };
      const found = findUnstorable(item, child, maxDepth, depth + 1);
      if (found) return found;
    }
  }
  return undefined;
}
