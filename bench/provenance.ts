/**
 * Where a benchmark's figures come from: the code (its commit, or a snapshot of it), the machine, the
 * command. Shared by `npm run bench`, `bench:history` and `bench:shards`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, symlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { REPO_ROOT } from '../lib/repo-root.ts';

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

/**
 * The commit's files in a temporary directory, with this checkout's node_modules: code to serve that
 * stays the commit's while others edit the working tree. The caller removes the directory.
 */
export async function codeSnapshot(commit: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-code-'));
  const archive = execFileSync('git', ['archive', '--format=tar', commit], {
    cwd: REPO_ROOT,
    maxBuffer: 512 * 1024 * 1024,
  });
  execFileSync('tar', ['-x', '-C', dir], { input: archive });
  await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
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

/** The machine a run measured on; every report carries it. */
export interface Machine {
  cpus: number;
  cpuModel: string;
  totalMemoryBytes: number;
  node: string;
  platform: string;
  /** The local engine, in the reports of the benchmarks that start one of their own. */
  engine?: string;
  /** os.loadavg(): 1, 5 and 15 minute load averages; on 2 cores, above 2 means others were busy too. */
  loadAverageAtStart: number[];
  loadAverageAtEnd: number[];
}

/** The machine now, at the end of a run that began with `loadAverageAtStart`. */
export function machineAtEnd(loadAverageAtStart: number[], options: { engine?: boolean } = {}): Machine {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    totalMemoryBytes: os.totalmem(),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    ...(options.engine === true ? { engine: engineVersion() } : {}),
    loadAverageAtStart,
    loadAverageAtEnd: os.loadavg(),
  };
}

/** The command that made a run, as a reader would type it again: `npm run bench:shards -- --minimal`. */
export function commandOf(script: string): string {
  const args = process.argv.slice(2);
  return `npm run ${script}${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;
}
