import { execFile } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { COUNTERS_TABLE } from '../../functions/counter/table.ts';
import { StreamPoller } from '../../lib/local/stream-poller.ts';
import { ensureTable } from '../../lib/local/tables.ts';
import { REPO_ROOT } from '../../lib/repo-root.ts';
import { HISTORY_STREAM } from '../../lib/stream-settings.ts';
import { localDeadLetter } from '../../scripts/dead-letters/messages.ts';
import { replayFile } from '../../scripts/dead-letters/replay-file.ts';
import { readBatch } from '../../scripts/dead-letters/stream-batch.ts';
import { useHistoryConsumer } from '../support/history-consumer.ts';
import { LOCAL_REGION, useEngine } from '../support/local-engine.ts';
import { eventually } from '../support/signed-client.ts';

const run = promisify(execFile);

// Dead letters made as `npm start` makes them (the local poller, a record that always fails), then
// replayed as an operator would: the real consumer, on the local engine, with its real stream.
describe('replaying local dead letters', () => {
  const local = useEngine();
  const consumer = useHistoryConsumer(local, 'replay');
  let table = 0;

  /**
   * A fresh counters table whose counter `name` is incremented 12 times, with the poller's consumer
   * failing on version 4 until it is dead-lettered; resolves once the rest is history.
   */
  const deadLetterVersion4 = async (name: string) => {
    const counters = `replay-counters-${++table}`;
    const { streamArn = '' } = await ensureTable(local.raw, counters, COUNTERS_TABLE);
    const deadLetterFile = join(mkdtempSync(join(tmpdir(), 'replay-')), 'dead-letters.jsonl');
    const poller = new StreamPoller({
      streams: local.streams,
      checkpoints: { client: local.documents, table: consumer.tables.checkpoints },
      streamArn,
      consumer: `record-history-${table}`,
      handler: async (event) => {
        const poison = event.Records.findIndex((record) => record.dynamodb?.NewImage?.version?.N === '4');
        if (poison === -1) return consumer.handler(event);
        await consumer.handler({ Records: event.Records.slice(0, poison) });
        return {
          batchItemFailures: [{ itemIdentifier: event.Records[poison]?.dynamodb?.SequenceNumber ?? '' }],
        };
      },
      settings: { ...HISTORY_STREAM, batchSize: 10, retryAttempts: 2 },
      deadLetterFile,
      region: LOCAL_REGION,
      idleMs: 50,
      retryBaseMs: 10,
    });
    for (let i = 0; i < 12; i++) await consumer.increment(counters, name, incarnation(name));
    poller.start();
    try {
      await eventually(async () => ((await versionsOf(name)).length === 11 ? true : undefined), 10_000);
    } finally {
      await poller.stop();
    }
    return { deadLetterFile };
  };

  const incarnation = (name: string) => `inc-${name}`;

  const versionsOf = (name: string) => consumer.versionsOf(name, incarnation(name));

  const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

  it('replays a dead letter through the consumer with `npm run replay-dead-letters -- --local`, removing its line', async () => {
    const { deadLetterFile } = await deadLetterVersion4('replayed');
    expect(await versionsOf('replayed')).toEqual(upTo(12).filter((version) => version !== 4));
    const [line, ...others] = readFileSync(deadLetterFile, 'utf8').trim().split('\n');
    expect(others).toHaveLength(0);

    // The same batch, read back from the stream by its description alone, as the AWS mode reads it.
    const letter = localDeadLetter.parse(JSON.parse(line ?? ''));
    const read = await readBatch(local.streams, letter.DDBStreamBatchInfo);
    expect(read.kind).toBe('records');
    expect(read.kind === 'records' ? read.records.map((r) => r.dynamodb?.SequenceNumber) : []).toEqual(
      letter.records.map((r) => r.dynamodb?.SequenceNumber),
    );

    const eventsFile = join(mkdtempSync(join(tmpdir(), 'replay-events-')), 'events.jsonl');
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'scripts/replay-dead-letters.ts', '--local', '--file', deadLetterFile],
      {
        cwd: REPO_ROOT,
        env: {
          PATH: process.env.PATH,
          DYNAMODB_ENDPOINT: local.endpoint,
          HISTORY_TABLE: consumer.tables.history,
          ROLLUPS_TABLE: consumer.tables.rollups,
          IDEMPOTENCY_TABLE: consumer.tables.idempotency,
          LOCAL_EVENTS_FILE: eventsFile,
        },
      },
    );

    expect(stdout).toMatch(/^replayed .* \(1 records\): line removed$/m);
    expect(stdout).toMatch(/^1 dead letter\(s\): 1 replayed, 0 kept$/m);
    expect(await versionsOf('replayed')).toEqual(upTo(12));
    // The replayed change's event goes where npm start writes them (docs/events.md).
    const events = readFileSync(eventsFile, 'utf8')
      .trim()
      .split('\n')
      .map((event) => JSON.parse(JSON.parse(event).Detail));
    expect(events).toEqual([expect.objectContaining({ name: 'replayed', version: 4 })]);
    expect(existsSync(deadLetterFile)).toBe(false);
    expect(readdirSync(dirname(deadLetterFile))).toEqual([]);
  });

  it('keeps a line the consumer still fails on, and the lines the poller appends meanwhile', async () => {
    const { deadLetterFile } = await deadLetterVersion4('still-failing');
    const original = readFileSync(deadLetterFile, 'utf8');
    const appended = '{"appended":"by the poller during the replay"}';

    const outcomes = await replayFile(
      deadLetterFile,
      async (event) => {
        // The server's poller dead-letters another batch while the replay runs.
        appendFileSync(deadLetterFile, `${appended}\n`);
        return { batchItemFailures: [{ itemIdentifier: event.Records[0]?.dynamodb?.SequenceNumber ?? '' }] };
      },
      () => undefined,
    );

    expect(outcomes).toEqual([
      {
        kind: 'failed',
        batch: expect.any(String),
        reason: expect.stringMatching(/reported record \d+ failed/),
      },
    ]);
    expect(readFileSync(deadLetterFile, 'utf8')).toBe(`${appended}\n${original}`);
    expect(readdirSync(dirname(deadLetterFile))).toEqual(['dead-letters.jsonl']);
    expect(await versionsOf('still-failing')).toEqual(upTo(12).filter((version) => version !== 4));
  });
});
