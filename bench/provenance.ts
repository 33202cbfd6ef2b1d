/**
 * Where a benchmark's figures come from, and leaving its published files as the repository keeps
 * them: shared by `npm run bench`, `bench:history` and `bench:shards`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The commit measured, and whether the code under `paths` differed from it (others may be editing the tree). */
export function codeVersion(paths: readonly string[]): { commit: string; uncommittedChanges: string[] } {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  try {
    const changed = git('status', '--porcelain', '--', ...paths);
    return {
      commit: git('rev-parse', 'HEAD'),
      uncommittedChanges: changed === '' ? [] : changed.split('\n').map((line) => line.trim()),
    };
  } catch {
    return { commit: 'unknown', uncommittedChanges: [] };
  }
}

/** Says so if HEAD moved while the run went on: the figures are the starting commit's, not the new one's. */
export function changedDuringRun(atStart: { commit: string }): { headAtEnd?: string } {
  const atEnd = codeVersion([]);
  return atEnd.commit === atStart.commit ? {} : { headAtEnd: atEnd.commit };
}

/** Biome checks docs/ as it checks the code, so the published files are left in its format. */
export function formatAsTheRepositoryDoes(files: readonly string[], log: (line: string) => void): void {
  try {
    execFileSync(path.join(REPO_ROOT, 'node_modules', '.bin', 'biome'), ['format', '--write', ...files], {
      cwd: REPO_ROOT,
      stdio: 'ignore',
    });
  } catch (error) {
    log(`could not format ${files.join(', ')} with Biome: ${String(error)}`);
  }
}

/** The local engine's name and version, from its package. */
export function engineVersion(): string {
  try {
    const file = createRequire(import.meta.url).resolve('@dynoxide/linux-x64/package.json');
    const { version } = z.object({ version: z.string() }).parse(JSON.parse(readFileSync(file, 'utf8')));
    return `Dynoxide ${version}`;
  } catch {
    return 'Dynoxide (version unknown)';
  }
}
