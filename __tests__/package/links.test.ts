/**
 * The documentation an npm user gets is whole: every relative link (and image) of every Markdown file in the tarball
 * (README.md, the guides, the docs they link to) points to a file in the tarball, and the manifest says where the
 * repository, the home page and the issues are. The tarball's file list comes from `npm pack --dry-run --json`, which
 * applies `files` exactly as `npm publish` does; `dist/` need not be built (the Markdown never links into it).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.join(__dirname, '..', '..');

/** The paths `npm pack` would put in the tarball, relative to the package root, `/`-separated. */
function packedFiles(): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
    maxBuffer: 64 * 1024 * 1024
  });
  const info = JSON.parse(out.slice(out.indexOf('['))) as Array<{ files: Array<{ path: string }> }>;
  return (info[0]?.files ?? []).map((f) => f.path);
}

/** Markdown without its fenced code blocks and inline code spans (a link written inside code is not a link). */
function proseOf(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** Every link target of a Markdown text: inline links and images, reference definitions, HTML `src` and `href`. */
function linkTargets(markdown: string): string[] {
  const prose = proseOf(markdown);
  const inline = [...prose.matchAll(/!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1] ?? '');
  const references = [...prose.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm)].map((m) => m[1] ?? '');
  const html = [...prose.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1] ?? '');
  return [...inline, ...references, ...html];
}

/** Whether a link leaves the package: a URL with a scheme, or a protocol-relative one. */
const isExternal = (target: string): boolean => /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//');

const files = packedFiles();
const packed = new Set(files);
const markdown = files.filter((f) => f.endsWith('.md'));

describe('the packed tarball', () => {
  it('ships README.md, every guide and the images and pages they show', () => {
    expect(markdown).toContain('README.md');
    const guides = fs
      .readdirSync(path.join(root, 'docs', 'guides'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/guides/${f.split(path.sep).join('/')}`);
    expect(guides.length).toBeGreaterThanOrEqual(10);
    for (const g of guides) expect(packed).toContain(g);
  });

  it('finds the links it checks', () => {
    const readme = linkTargets(fs.readFileSync(path.join(root, 'README.md'), 'utf8')).filter((t) => !isExternal(t));
    expect(readme).toContain('docs/guides/getting-started.md');
    expect(readme).toContain('docs/images/demo.png');
    expect(linkTargets('[a](x.md) `[b](y.md)` ![c](i.png "t")\n```md\n[d](z.md)\n```\n[e]: ref.md\n<img src="h.png">')).toEqual(['x.md', 'i.png', 'ref.md', 'h.png']);
  });

  it.each(markdown)('%s: every relative link points to a file in the tarball', (file) => {
    const text = fs.readFileSync(path.join(root, file), 'utf8');
    const dead: string[] = [];
    for (const target of linkTargets(text)) {
      if (isExternal(target) || target.startsWith('#')) continue;
      const withoutAnchor = decodeURI(target.replace(/[?#].*$/, ''));
      const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(file), withoutAnchor));
      // A link to a folder resolves to its README or index, as GitHub and npm's file viewers show it.
      const candidates = [resolved, `${resolved}/README.md`, `${resolved}/index.md`].map((p) => p.replace(/^\.\//, '').replace(/\/$/, ''));
      if (resolved.startsWith('..') || !candidates.some((c) => packed.has(c))) dead.push(target);
    }
    expect(dead).toEqual([]);
  });
});

describe('package.json', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    repository?: { type?: string; url?: string };
    homepage?: string;
    bugs?: { url?: string };
  };

  it('names the repository, the home page and the issue tracker (where npm links the README from)', () => {
    expect(manifest.repository?.type).toBe('git');
    expect(manifest.repository?.url).toMatch(/^git\+https:\/\/github\.com\/[\w.-]+\/[\w.-]+\.git$/);
    const repo = /github\.com\/([\w.-]+\/[\w.-]+)\.git$/.exec(manifest.repository?.url ?? '')?.[1];
    expect(manifest.homepage).toBe(`https://github.com/${repo ?? '?'}#readme`);
    expect(manifest.bugs?.url).toBe(`https://github.com/${repo ?? '?'}/issues`);
  });
});
