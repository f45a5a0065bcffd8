#!/usr/bin/env node
/**
 * `npm run build` and `npm start`'s prestart: compiles the TypeScript (tsconfig.build.json) into
 * dist/ and records a SHA-256 of every input — the sources, migrations, the demo, the tsconfig
 * files, package.json and the installed TypeScript's version. With `--if-stale` (prestart) it
 * compiles only when that digest changed, so `npm start` on unchanged sources starts at once
 * (ready within 3 s) and still rebuilds after any edit, added or deleted file.
 */
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

// `--root <dir>` builds another checkout (the test builds a small copy).
const rootArg = process.argv.indexOf('--root');
const ROOT = rootArg > 0 ? path.resolve(process.argv[rootArg + 1] ?? '.') : path.resolve(__dirname, '..');
const DIGEST_FILE = path.join(ROOT, 'dist', '.sources-sha256');
const INPUT_DIRS = ['src', 'migrations', 'demo'];
const INPUT_FILES = ['tsconfig.json', 'tsconfig.build.json', 'package.json', 'node_modules/typescript/package.json'];

function filesUnder(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(full) : [full];
  });
}

function sourcesDigest() {
  const files = [...INPUT_DIRS.flatMap((dir) => filesUnder(path.join(ROOT, dir))), ...INPUT_FILES.map((file) => path.join(ROOT, file))]
    .filter((file) => fs.existsSync(file))
    .sort();
  const hash = crypto.createHash('sha256');
  for (const file of files) {
    hash.update(path.relative(ROOT, file)).update('\0').update(fs.readFileSync(file)).update('\0');
  }
  return hash.digest('hex');
}

function main() {
  const ifStale = process.argv.includes('--if-stale');
  const digest = sourcesDigest();
  const built = fs.existsSync(DIGEST_FILE) ? fs.readFileSync(DIGEST_FILE, 'utf8').trim() : undefined;
  if (ifStale && built === digest && fs.existsSync(path.join(ROOT, 'dist', 'src', 'server.js'))) return;
  // The digest is removed first: an interrupted build must not look up to date.
  fs.rmSync(DIGEST_FILE, { force: true });
  const tsc = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
  const result = spawnSync(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
  fs.writeFileSync(DIGEST_FILE, `${digest}\n`);
}

main();
