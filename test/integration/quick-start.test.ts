/**
 * The README's "Quick start for app makers", run as a reader pastes it: its fenced shell block is
 * read from README.md and run by bash against carevault as a process, with the CLI through `npx`.
 * Two lines differ from the page, because the page leaves them to the reader: `CV=` names this
 * test server's address, and step 2's `CODE=…   # paste it here` reads the code the person's
 * browser (signing up as Quinn Start, then Allow) was sent back with. Step 8 sends to
 * quinn.start@direct.localhost with nobody having opened a page that shows the address: a
 * record's Direct address exists from the moment the record does.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Browser } from '../support/browser';
import { authorizeInBrowser } from '../support/app';
import { newServerTarget, type ServerProcess, type ServerTarget } from '../support/process';

jest.setTimeout(240_000);

const ROOT = path.resolve(__dirname, '../..');

/** The first ```sh block after the quick start's heading. */
function quickStartScript(): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## Quick start for app makers');
  if (start < 0) throw new Error('README.md has no quick start');
  const block = /```sh\n([\s\S]*?)\n```/.exec(readme.slice(start));
  if (!block?.[1]) throw new Error('the quick start has no shell block');
  return block[1];
}

let target: ServerTarget;
let server: ServerProcess;
let work: string;

beforeAll(async () => {
  target = await newServerTarget();
  server = await target.start();
  // A reader's directory: `npx carevault` finds the command the way it does in the checkout.
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'cv-quick-start-'));
  fs.mkdirSync(path.join(work, 'node_modules/.bin'), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'bin/carevault.js'), path.join(work, 'node_modules/.bin/carevault'));
});

afterAll(async () => {
  await target?.remove();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

test('the quick start runs as pasted, step 8 included', async () => {
  const script = quickStartScript();
  expect(script).toMatch(/^CV=http:\/\/localhost:3000$/m);
  expect(script).toMatch(/^CODE=… {3}# paste it here$/m);
  expect(script).toContain('quinn.start@direct.localhost');
  const pasted = script.replace(/^CV=.*$/m, `CV=${server.issuer}`).replace(/^CODE=….*$/m, 'read -r CODE');

  const bash = spawn('bash', ['-c', pasted], {
    cwd: work,
    env: { ...process.env, NODE_OPTIONS: '', DATA_DIR: target.dataDir, DATABASE_URL: target.databaseUrl, DIRECT_DOMAIN: 'direct.localhost' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  bash.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<number | null>((resolve) => bash.once('exit', resolve));
  const printedUrl = new Promise<string>((resolve, reject) => {
    bash.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const url = /^(http\S+\/authorize\?\S+)$/m.exec(out)?.[1];
      if (url) resolve(url);
    });
    void exited.then(() => reject(new Error(`the script ended before printing the URL:\n${out}\n${err}`)));
  });

  // Step 2 in the person's browser: create an account as Quinn Start, Allow, read the code from the address.
  const url = await printedUrl;
  const browser = new Browser(server.issuer);
  const person = { name: 'Quinn Start', email: 'quinn.start@example.com', password: 'correct horse battery staple' };
  const back = await authorizeInBrowser(browser, new URL(url), person, { register: true });
  const code = new URL(back.location ?? 'http://none/').searchParams.get('code');
  expect(code).toEqual(expect.any(String));
  bash.stdin.end(`${code}\n`);

  expect(await exited).toBe(0);
  // Step 5 read back the one Observation it wrote (curl prints no newline after the created one).
  expect(out).toMatch(/"resourceType":"Observation".*\}1$/m);
  // Step 6: the package, with its pickup code and address.
  expect(out).toMatch(/"pickup_code":\s*"[A-Z]{4}(-[A-Z]{4}){4}"/);
  // Step 7: the identity code, and the poll that waits for the person.
  expect(out).toMatch(/"user_code":\s*"[A-Z]{4}(-[A-Z]{4}){4}"/);
  expect(out).toContain('authorization_pending');
  // Step 8: the message is accepted, not refused as an unknown recipient.
  expect(out).not.toContain('unknown_recipient');
  expect(out.trim()).toMatch(/"authorization_pending"[^\n]*\}\{"id":"[0-9a-f-]{36}"\}$/);
  expect(err).not.toMatch(/error/i);

  // And Quinn reads it in the inbox.
  const inbox = await browser.visit('/inbox');
  expect(inbox.html).toContain('Your weigh-in');
});
