/**
 * The documentation stays navigable and speaks for itself: every link in README.md,
 * ARCHITECTURE.md, test/README.md and docs/ reaches a file of the repository, and every `#anchor`
 * a heading of its target (as GitHub names headings); no document cites an issue number or a
 * document the repository does not hold; and every dependency in package.json is explained.
 */
import fs from 'node:fs';
import path from 'node:path';
import GithubSlugger from 'github-slugger';
import MarkdownIt from 'markdown-it';

const ROOT = path.resolve(__dirname, '..', '..');
const markdown = new MarkdownIt({ html: true });

function markdownFilesUnder(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const relative = path.join(dir, entry.name);
    if (entry.isDirectory()) return markdownFilesUnder(relative);
    return entry.name.endsWith('.md') ? [relative] : [];
  });
}

const DOCUMENTS = ['README.md', 'ARCHITECTURE.md', 'test/README.md', ...markdownFilesUnder('docs')];

type Parsed = { anchors: Set<string>; links: string[] };
const parsed = new Map<string, Parsed>();

/** The anchors GitHub gives a document's headings, and the targets of its links and images. */
function parse(file: string): Parsed {
  const known = parsed.get(file);
  if (known) return known;
  const tokens = markdown.parse(fs.readFileSync(path.join(ROOT, file), 'utf8'), {});
  const slugger = new GithubSlugger();
  const result: Parsed = { anchors: new Set(), links: [] };
  tokens.forEach((token, index) => {
    if (token.type === 'heading_open') {
      const text = (tokens[index + 1]?.children ?? [])
        .filter((child) => child.type === 'text' || child.type === 'code_inline')
        .map((child) => child.content)
        .join('');
      result.anchors.add(slugger.slug(text));
    }
    for (const child of token.children ?? []) {
      const target = child.type === 'link_open' ? child.attrGet('href') : child.type === 'image' ? child.attrGet('src') : null;
      if (target !== null && target !== undefined) result.links.push(String(target));
    }
  });
  parsed.set(file, result);
  return result;
}

/** What is wrong with one link of `from`, or `undefined` when it resolves. */
function brokenLink(from: string, link: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(link)) return undefined; // https:, mailto: … are not fetched here
  const [target = '', anchor] = link.split('#', 2);
  const file = target === '' ? from : path.normalize(path.join(path.dirname(from), decodeURIComponent(target)));
  if (file.startsWith('..')) return `${link} leaves the repository`;
  if (!fs.existsSync(path.join(ROOT, file))) return `${link}: ${file} does not exist`;
  if (anchor === undefined) return undefined;
  if (!file.endsWith('.md')) return `${link}: only Markdown files have anchors`;
  return parse(file).anchors.has(anchor) ? undefined : `${link}: ${file} has no heading #${anchor}`;
}

test('the documents are the ones this test reads', () => {
  expect(DOCUMENTS).toEqual(expect.arrayContaining(['docs/README.md', 'docs/operators/settings.md', 'docs/apps/fhir.md']));
});

test.each(DOCUMENTS)('every link and anchor in %s resolves', (file) => {
  const { links } = parse(file);
  const broken = links.map((link) => brokenLink(file, link)).filter((problem) => problem !== undefined);
  expect(broken).toEqual([]);
});

test('every document is reachable from the README', () => {
  const reached = new Set<string>();
  const visit = (file: string) => {
    if (reached.has(file) || !file.endsWith('.md') || !fs.existsSync(path.join(ROOT, file))) return;
    reached.add(file);
    for (const link of parse(file).links) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue;
      const target = link.split('#')[0] ?? '';
      if (target) visit(path.normalize(path.join(path.dirname(file), decodeURIComponent(target))));
    }
  };
  visit('README.md');
  expect(DOCUMENTS.filter((file) => !reached.has(file))).toEqual([]);
});

test('no document cites an issue number or a design document the repository does not hold', () => {
  const citations = DOCUMENTS.flatMap((file) =>
    fs
      .readFileSync(path.join(ROOT, file), 'utf8')
      .split('\n')
      .flatMap((line, index) => (/\bissues? #?\d|\bDESIGN\.md\b|\bdesign notes\b/i.test(line) ? [`${file}:${index + 1}: ${line.trim()}`] : [])),
  );
  expect(citations).toEqual([]);
});

test('every dependency in package.json is explained in docs/dependencies.md', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
  };
  const explained = fs.readFileSync(path.join(ROOT, 'docs/dependencies.md'), 'utf8');
  const names = [...Object.keys(manifest.dependencies), ...Object.keys(manifest.devDependencies)];
  expect(names.filter((name) => !explained.includes(`\`${name}\``))).toEqual([]);
});
