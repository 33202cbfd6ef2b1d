/**
 * The one place a benchmark's files are written: its JSON report and whatever is drawn from it
 * (Markdown, SVG charts), published under docs/benchmarks or kept in a temporary directory.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../lib/repo-root.ts';

/** Where the published figures live. */
export const PUBLISHED_DIR = path.join(REPO_ROOT, 'docs', 'benchmarks');

export interface ReportFile {
  file: string;
  text: string;
}

/**
 * The directory a run's files go to: the one asked for, else docs/benchmarks for a run that may
 * replace the published figures, else `temporary` under the system's temporary directory, so a smoke
 * or partial run never replaces them.
 */
export function reportDirectory(options: {
  chosen: string | undefined;
  publishable: boolean;
  temporary: string;
}): string {
  return options.chosen ?? (options.publishable ? PUBLISHED_DIR : path.join(os.tmpdir(), options.temporary));
}

/** A report as the JSON file holds it. */
export function jsonText(report: unknown): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/** Writes the files (creating their directories), then leaves the JSON and Markdown in Biome's format. */
export async function writeReportFiles(
  files: readonly ReportFile[],
  log: (line: string) => void,
): Promise<void> {
  for (const { file, text } of files) {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, text);
  }
  formatAsTheRepositoryDoes(
    files.map(({ file }) => file).filter((file) => /\.(json|md)$/.test(file)),
    log,
  );
}

/** Biome checks docs/ as it checks the code, so the published files are left in its format. */
function formatAsTheRepositoryDoes(files: readonly string[], log: (line: string) => void): void {
  if (files.length === 0) return;
  try {
    execFileSync(path.join(REPO_ROOT, 'node_modules', '.bin', 'biome'), ['format', '--write', ...files], {
      cwd: REPO_ROOT,
      stdio: 'ignore',
    });
  } catch (error) {
    log(`could not format ${files.join(', ')} with Biome: ${String(error)}`);
  }
}
