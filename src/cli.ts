/**
 * The `carevault` command: migrate, register apps, rotate signing keys. Works with or without a
 * running server, on either database (the embedded one is reached through the server's socket
 * while a server owns it).
 */
import fs from 'node:fs';
import { InvalidApp } from './apps/service';
import { ConfigError, loadConfig } from './config';
import { setLogLevel } from './log';

const USAGE = `Usage:
  carevault migrate                          bring the database schema up to date
  carevault apps create [--file app.json]    register an app (JSON from the file, or stdin)
  carevault keys rotate                      add new signing keys; old ones stay published
`;

class UsageError extends Error {}

function readDocument(args: string[]): unknown {
  const fileIndex = args.indexOf('--file');
  let text: string;
  if (fileIndex >= 0) {
    const file = args[fileIndex + 1];
    if (!file) throw new UsageError('--file needs a path');
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      throw new UsageError(`cannot read ${file}`);
    }
  } else {
    if (process.stdin.isTTY) throw new UsageError('give the app document with --file app.json or on stdin');
    text = fs.readFileSync(0, 'utf8');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new InvalidApp('the document is not valid JSON');
  }
}

async function run(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  const config = loadConfig();
  setLogLevel('warn');
  if (command === 'migrate' && sub === undefined) {
    const { migrateCommand } = await import('./cli-commands.js');
    const applied = await migrateCommand(config);
    process.stdout.write(applied.length ? `applied ${applied.join(', ')}\n` : 'database is up to date\n');
    return 0;
  }
  if (command === 'apps' && sub === 'create') {
    const document = readDocument(rest);
    const { createAppCommand } = await import('./cli-commands.js');
    process.stdout.write(`${JSON.stringify(await createAppCommand(config, document), null, 2)}\n`);
    return 0;
  }
  if (command === 'keys' && sub === 'rotate') {
    const { rotateKeysCommand } = await import('./cli-commands.js');
    process.stdout.write(`${JSON.stringify(await rotateKeysCommand(config), null, 2)}\n`);
    return 0;
  }
  if (command === undefined || command === 'help' || command === '--help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  throw new UsageError(`unknown command: ${argv.join(' ')}`);
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`carevault: ${error.message}\n\n${USAGE}`);
      process.exit(2);
    }
    if (error instanceof InvalidApp) {
      process.stderr.write(`carevault: invalid app: ${error.message}\n`);
      process.exit(1);
    }
    const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error);
    process.stderr.write(`carevault: ${message}\n`);
    process.exit(1);
  },
);
