import { GetRecordsCommand } from '@aws-sdk/client-dynamodb-streams';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { main, parseSettings } from '../../scripts/replay-dead-letters.ts';
import {
  answer,
  deadLetter,
  FUNCTION,
  QUEUE_URL,
  record,
  useDeadLetterMocks,
} from '../support/dead-letter-queue.ts';

// scripts/replay-dead-letters.ts (the queue's replay itself: replay-queue.test.ts).
const { sqsMock, streamsMock, lambdaMock, queueHolds } = useDeadLetterMocks();

describe('the replay-dead-letters command', () => {
  it('takes the queue and function, and the region from the queue URL', () => {
    expect(parseSettings(['--queue-url', QUEUE_URL, '--function', FUNCTION, '--max', '5'], {})).toEqual({
      mode: 'aws',
      queueUrl: QUEUE_URL,
      functionName: FUNCTION,
      region: 'eu-west-1',
      dryRun: false,
      discardGone: false,
      maxMessages: 5,
    });
  });

  it('replays the local file named by LOCAL_DEAD_LETTERS in --local mode', () => {
    expect(parseSettings(['--local'], { LOCAL_DEAD_LETTERS: '/tmp/letters.jsonl' })).toEqual({
      mode: 'local',
      file: '/tmp/letters.jsonl',
    });
  });

  it.each([
    [[], /--queue-url/],
    [['--queue-url', QUEUE_URL], /--function is required/],
    [['--queue-url', 'sqs-queue', '--function', FUNCTION], /--queue-url must be the queue URL/],
    [['--queue-url', QUEUE_URL, '--function', FUNCTION, '--max', '0'], /--max must be a whole number/],
    [['--local', '--dry-run'], /--local takes none of --dry-run/],
    [['--file', 'x.jsonl', '--queue-url', QUEUE_URL, '--function', FUNCTION], /--file is for --local/],
  ])('refuses %j', (args, message) => {
    expect(() => parseSettings(args, {})).toThrow(message);
  });

  const quiet = () => undefined;
  const awsArgs = ['--queue-url', QUEUE_URL, '--function', FUNCTION];

  it('exits 2 on bad usage without calling AWS', async () => {
    expect(await main(['--queue-url', QUEUE_URL], {}, quiet, quiet)).toBe(2);
    expect(sqsMock.commandCalls(ReceiveMessageCommand)).toHaveLength(0);
  });

  it('exits 0 when every dead letter was replayed, and says how many', async () => {
    queueHolds(deadLetter('m1', '100', '100', 1));
    streamsMock.on(GetRecordsCommand).resolves({ Records: [record('100', 4)] });
    lambdaMock.on(InvokeCommand).resolves(answer({ batchItemFailures: [] }));
    const lines: string[] = [];

    expect(await main(awsArgs, {}, (line) => lines.push(line), quiet)).toBe(0);
    expect(lines.at(-1)).toBe('1 dead letter(s): 1 replayed, 0 kept');
  });

  it('exits 1 when any dead letter was kept, and 0 when there was none', async () => {
    queueHolds(deadLetter('m1', '100', '100', 1), deadLetter('m2', '200', '200', 1));
    streamsMock.on(GetRecordsCommand).resolves({ Records: [record('100', 4), record('200', 5)] });
    lambdaMock
      .on(InvokeCommand)
      .resolvesOnce(answer({ batchItemFailures: [] }))
      .resolves(answer({ batchItemFailures: [{ itemIdentifier: '200' }] }));
    const lines: string[] = [];

    expect(await main(awsArgs, {}, (line) => lines.push(line), quiet)).toBe(1);
    expect(lines.at(-1)).toBe('2 dead letter(s): 1 replayed, 1 kept');

    sqsMock.reset();
    queueHolds();
    expect(await main(awsArgs, {}, (line) => lines.push(line), quiet)).toBe(0);
    expect(lines.at(-1)).toBe('no dead letters');
  });
});
