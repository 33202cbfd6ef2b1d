import { createReadStream, fstatSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { exportCounters } from '../../client/export.ts';
import { importCounters } from '../../client/import.ts';
import { Progress } from '../../client/progress.ts';
import { UsageError, upTo } from './arguments.ts';
import type { CommandContext } from './command.ts';
import { EXIT } from './exit-codes.ts';

/** `export [PREFIX]`: JSON Lines to stdout, progress and warnings to stderr. */
export async function exportCommand(context: CommandContext): Promise<number> {
  const [prefix] = upTo(context.args, [], ['PREFIX']);
  const progress = new Progress(context.io.stderr, 'export');
  const summary = await exportCounters(context.client, context.write, {
    prefix: prefix ?? '',
    onProgress: (p) => progress.update(`${p.counters} counters, ${p.entries} history entries`),
  });
  progress.finish(
    `exported ${summary.counters} counters with ${summary.entries} history entries` +
      (summary.vanished.length === 0 ? '' : `; ${summary.vanished.length} deleted meanwhile`),
  );
  for (const name of summary.incomplete) {
    context.say(`warning: ${name}: its history had not caught up with its version; exported what there was`);
  }
  return EXIT.ok;
}

/** `import [FILE]`: from FILE, or stdin when it is absent or `-`; exit 1 when any counter failed. */
export async function importCommand(context: CommandContext): Promise<number> {
  const { io } = context;
  const [file] = upTo(context.args, [], ['FILE']);
  const fromStdin = file === undefined || file === '-';
  if (fromStdin && 'isTTY' in io.stdin && io.stdin.isTTY === true) {
    throw new UsageError('import reads an export from FILE or from stdin: counter import < counters.jsonl');
  }
  const input = fromStdin ? io.stdin : createReadStream(file);
  const total = fromStdin ? sizeOfStdin(io.stdin) : statSync(file).size;
  const progress = new Progress(io.stderr, 'import');
  const salt = context.options.salt;
  const summary = await importCounters(context.client, createInterface({ input, crlfDelay: Infinity }), {
    ...(salt === undefined ? {} : { salt }),
    onProgress: (p) => progress.update(`${p.counters} counters, ${p.changes} changes`, p.bytes, total),
  });
  progress.finish(
    `imported ${summary.counters - summary.failed.length} of ${summary.counters} counters: ` +
      `${summary.changes} changes replayed (${summary.replayed} already applied by an earlier run)`,
  );
  for (const failure of summary.failed) context.say(`error: ${failure.name}: ${failure.reason}`);
  if (context.json) await context.write(JSON.stringify(summary));
  return summary.failed.length === 0 ? EXIT.ok : EXIT.failed;
}

/** The size of a file redirected to stdin, for the progress bar; undefined for a pipe or a terminal. */
function sizeOfStdin(stdin: Readable): number | undefined {
  if (stdin !== process.stdin) return undefined;
  try {
    const stat = fstatSync(0);
    return stat.isFile() ? stat.size : undefined;
  } catch {
    return undefined;
  }
}
