import { once } from 'node:events';
import type { SeriesBucket } from '../../client/counter-client.ts';
import { one, seconds, seriesInterval, window } from './arguments.ts';
import { type CommandContext, pause, stopSignal } from './command.ts';
import { EXIT } from './exit-codes.ts';
import { HISTORY_HEADER, HISTORY_RIGHT_ALIGNED, historyRow } from './format.ts';
import { Table } from './table.ts';
import { renderSeriesChart } from './terminal-chart.ts';
import { watchCounter } from './watch.ts';

/** `history NAME`: a table, or JSON Lines with --json. */
export async function historyCommand(context: CommandContext): Promise<number> {
  const name = one(context.args, 'NAME');
  const table = new Table(context.write, HISTORY_HEADER, HISTORY_RIGHT_ALIGNED);
  for await (const entry of context.client.history(name, { limit: 1000, ...window(context.options) })) {
    if (context.json) await context.write(JSON.stringify(entry));
    else await table.add(historyRow(entry));
  }
  await table.flush();
  return EXIT.ok;
}

/** `series NAME`: a chart as wide as the terminal, or a bucket per line with --json. */
export async function seriesCommand(context: CommandContext): Promise<number> {
  const { client, io, json, write } = context;
  const name = one(context.args, 'NAME');
  const interval = seriesInterval(context.options.interval ?? 'hour');
  const buckets: SeriesBucket[] = [];
  for await (const bucket of client.series(name, { interval, limit: 1440, ...window(context.options) })) {
    if (json) await write(JSON.stringify(bucket));
    else buckets.push(bucket);
  }
  if (json) return EXIT.ok;
  const columns = 'columns' in io.stdout && typeof io.stdout.columns === 'number' ? io.stdout.columns : 80;
  const width = Math.max(20, Math.min(120, columns - 24));
  await write(`${name}, by ${interval} (UTC)`);
  for (const line of renderSeriesChart(buckets, { interval, width })) await write(line);
  return EXIT.ok;
}

/** `watch NAME`: looks again every --every seconds until stopped. */
export async function watchCommand(context: CommandContext): Promise<number> {
  const { io } = context;
  const name = one(context.args, 'NAME');
  const everyMs = seconds(context.options.every ?? '2') * 1000;
  const signal = stopSignal(io);
  await watchCounter({
    client: context.client,
    name,
    everyMs,
    json: context.json,
    tty: 'isTTY' in io.stdout && io.stdout.isTTY === true,
    write: async (text) => {
      if (!io.stdout.write(text)) await once(io.stdout, 'drain');
    },
    signal,
    sleep: io.sleep ?? pause,
  });
  return EXIT.ok;
}
