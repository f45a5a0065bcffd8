/**
 * `npm start` compiles only when a source changed (ready within 3 s on unchanged
 * sources): scripts/build.js with `--if-stale` leaves dist/ alone when every input is as it was
 * built, and rebuilds after an edit, an added file or a deleted one. Run on a small copy of the
 * project (its tsconfig files and package.json, a two-file src/) so the test is quick.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
let dir: string;

function build(...args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'scripts', 'build.js'), '--root', dir, ...args],
      { env: { ...process.env, NODE_OPTIONS: '' } },
      (error, _stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve()),
    );
  });
}

const output = (name: string) => path.join(dir, 'dist', 'src', name);
const mtime = (file: string) => fs.statSync(file).mtimeMs;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cv-build-'));
  for (const file of ['tsconfig.json', 'tsconfig.build.json', 'package.json']) fs.copyFileSync(path.join(ROOT, file), path.join(dir, file));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  fs.mkdirSync(path.join(dir, 'src'));
  fs.writeFileSync(path.join(dir, 'src', 'server.ts'), "import { greeting } from './greeting';\nexport const text = greeting;\n");
  fs.writeFileSync(path.join(dir, 'src', 'greeting.ts'), "export const greeting = 'hello';\n");
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the build before npm start', () => {
  it('compiles when dist/ was never built, then skips while nothing changed', async () => {
    await build('--if-stale');
    expect(fs.readFileSync(output('greeting.js'), 'utf8')).toContain("'hello'");
    const built = mtime(output('server.js'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await build('--if-stale');
    expect(mtime(output('server.js'))).toBe(built);
  }, 120_000);

  it('rebuilds after a source is edited, added or deleted', async () => {
    fs.writeFileSync(path.join(dir, 'src', 'greeting.ts'), "export const greeting = 'bonjour';\n");
    await build('--if-stale');
    expect(fs.readFileSync(output('greeting.js'), 'utf8')).toContain("'bonjour'");

    fs.writeFileSync(path.join(dir, 'src', 'farewell.ts'), "export const farewell = 'bye';\n");
    await build('--if-stale');
    expect(fs.existsSync(output('farewell.js'))).toBe(true);

    const before = mtime(output('server.js'));
    fs.rmSync(path.join(dir, 'src', 'farewell.ts'));
    await build('--if-stale');
    expect(mtime(output('server.js'))).toBeGreaterThan(before);
  }, 120_000);

  it('does not take a failed build for an up-to-date one', async () => {
    fs.writeFileSync(path.join(dir, 'src', 'greeting.ts'), 'export const greeting: number = "not a number";\n');
    await expect(build('--if-stale')).rejects.toThrow();
    await expect(build('--if-stale')).rejects.toThrow();
    fs.writeFileSync(path.join(dir, 'src', 'greeting.ts'), "export const greeting = 'hello';\n");
    await build('--if-stale');
  }, 120_000);
});
