import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../lib/repo-root.ts';

// Docs name files by path; a rename that forgets them leaves a newcomer at a dead end.
const root = REPO_ROOT;
const pages = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const TOP = /^(functions|lib|bin|bench|test|console|examples|scripts|docs)\//;

function referencesOf(page: string): { target: string; from: string }[] {
  const text = readFileSync(join(root, page), 'utf8');
  const found: { target: string; from: string }[] = [];
  for (const [, link] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
    if (link && !/^[a-z]+:/.test(link))
      found.push({ target: resolve(root, dirname(page), link), from: link });
  }
  for (const [, code] of text.matchAll(/`([\w./-]+\.(?:ts|md|json|mjs|sh))`/g)) {
    if (code && TOP.test(code)) found.push({ target: join(root, code), from: code });
  }
  return found;
}

describe('the README and docs', () => {
  it.each(pages)('%s names only files that exist', (page) => {
    const missing = referencesOf(page)
      .filter(({ target }) => !existsSync(target))
      .map(({ from }) => from);
    expect(missing).toEqual([]);
  });
});
