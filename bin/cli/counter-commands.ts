import type { Counter } from '../../client/counter-client.ts';
import { bound, exactly, integer, one, shardCount, upTo } from './arguments.ts';
import type { CommandContext } from './command.ts';
import { EXIT } from './exit-codes.ts';
import { describeCounter } from './format.ts';
import { Table } from './table.ts';

/** `get NAME` */
export async function getCommand(context: CommandContext): Promise<number> {
  await show(context, await context.client.get(one(context.args, 'NAME')));
  return EXIT.ok;
}

/** `inc NAME [BY]` */
export async function incCommand(context: CommandContext): Promise<number> {
  const [name = '', by] = upTo(context.args, ['NAME'], ['BY']);
  const amount = by === undefined ? undefined : integer(by, 'BY');
  await show(context, await context.client.increment(name, amount, context.change));
  return EXIT.ok;
}

/** `set NAME VALUE`, with --shards, --min and --max. */
export async function setCommand(context: CommandContext): Promise<number> {
  const { options } = context;
  const [name, value = ''] = exactly(context.args, ['NAME', 'VALUE']);
  const shards = options.shards === undefined ? {} : { shards: shardCount(options.shards) };
  const bounds = {
    ...(options.min === undefined ? {} : { min: bound(options.min, '--min') }),
    ...(options.max === undefined ? {} : { max: bound(options.max, '--max') }),
  };
  const counter = await context.client.set(name, integer(value, 'VALUE'), {
    ...context.change,
    ...shards,
    ...bounds,
  });
  await show(context, counter);
  return EXIT.ok;
}

/** `rm NAME` */
export async function rmCommand(context: CommandContext): Promise<number> {
  const name = one(context.args, 'NAME');
  await context.client.delete(name, context.change);
  await context.write(context.json ? JSON.stringify({ name, deleted: true }) : `deleted ${name}`);
  return EXIT.ok;
}

/** `ls [PREFIX]`: a table, or JSON Lines with --json. */
export async function lsCommand(context: CommandContext): Promise<number> {
  const [prefix] = upTo(context.args, [], ['PREFIX']);
  const table = new Table(context.write, ['NAME', 'VALUE', 'VERSION', 'UPDATED'], [false, true, true, false]);
  for await (const counter of context.client.list({ prefix: prefix ?? '', limit: 100 })) {
    if (context.json) await context.write(JSON.stringify(counter));
    else
      await table.add([
        counter.name,
        String(counter.value),
        String(counter.version),
        counter.updated_at ?? '-',
      ]);
  }
  await table.flush();
  return EXIT.ok;
}

async function show(context: CommandContext, counter: Counter): Promise<void> {
  await context.write(context.json ? JSON.stringify(counter) : describeCounter(counter));
}
