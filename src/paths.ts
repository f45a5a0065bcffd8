/**
 * Where the checkout's own files are, the same from `src/` under tests and from `dist/src/` built.
 */
import fs from 'node:fs';
import path from 'node:path';

function findRoot(start: string): string {
  let dir = start;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the carevault checkout (no package.json above)');
    dir = parent;
  }
  return dir;
}

const ROOT = findRoot(__dirname);
export const VIEWS_DIR = path.join(ROOT, 'views');
export const PUBLIC_DIR = path.join(ROOT, 'public');

/** carevault's version, from package.json. */
export const VERSION = String((JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version?: unknown }).version ?? '0.0.0');
