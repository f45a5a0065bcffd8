/**
 * The shape of src/'s imports, type-only ones included: no import circle anywhere, and the core
 * names no feature — only the list of features (src/features.ts) imports a feature's folder, and
 * features do not import one another. The feature folders are the ones that list imports from.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const SRC = path.resolve(__dirname, '../../src');
const LIST = path.join(SRC, 'features.ts');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** The src/ files a file imports (relative imports only; packages are not ours). */
function importsOf(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
  return importedFiles
    .map((imported) => imported.fileName)
    .filter((name) => name.startsWith('.'))
    .map((name) => {
      // A dynamic import names the compiled file (`./cli-commands.js`); its source is the `.ts`.
      const base = path.resolve(path.dirname(file), name.replace(/\.js$/, ''));
      const found = [`${base}.ts`, path.join(base, 'index.ts')].find((candidate) => fs.existsSync(candidate));
      if (!found) throw new Error(`${path.relative(SRC, file)} imports ${name}, which is not a source file`);
      return found;
    });
}

const files = sourceFiles(SRC);
const graph = new Map(files.map((file) => [file, importsOf(file)]));
const shown = (file: string) => path.relative(SRC, file);

/** The top folder of a file under src/ ('' for files at the top). */
const folderOf = (file: string) => (shown(file).includes(path.sep) ? (shown(file).split(path.sep)[0] ?? '') : '');

test('src/ has no import circle', () => {
  const circles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const walk = (file: string, trail: string[]) => {
    state.set(file, 'open');
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') circles.push([...trail.slice(trail.indexOf(next)), next].map(shown).join(' → '));
      else if (!state.has(next)) walk(next, [...trail, next]);
    }
    state.set(file, 'done');
  };
  for (const file of files) if (!state.has(file)) walk(file, [file]);
  expect(circles).toEqual([]);
});

test('only the list of features imports a feature; features do not import one another', () => {
  const featureFolders = new Set((graph.get(LIST) ?? []).map(folderOf).filter(Boolean));
  expect([...featureFolders].sort()).toEqual(['account', 'connect', 'direct', 'documents', 'dopu', 'notifications', 'sharing']);
  const naming: string[] = [];
  for (const [file, imports] of graph) {
    if (file === LIST) continue;
    const own = folderOf(file);
    for (const imported of imports) {
      const target = folderOf(imported);
      if (featureFolders.has(target) && target !== own) naming.push(`${shown(file)} → ${shown(imported)}`);
    }
  }
  expect(naming).toEqual([]);
});
