import { appendFile, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { batchResponse, describeBatch, firstFailure, localDeadLetter } from './messages.ts';

/** The consumer's handler (functions/stream/record-history.ts), or anything shaped like it. */
export type StreamConsumer = (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse | undefined>;

export type FileOutcome =
  | { kind: 'replayed'; batch: string; records: number }
  | { kind: 'failed'; batch?: string | undefined; reason: string };

const CLAIMED = '.replaying-';

/**
 * Replays the local dead letters (`LOCAL_DEAD_LETTERS`, one JSON line per batch, with its records)
 * through the consumer, and removes the lines it replayed; a line that fails stays in the file.
 *
 * The file is first renamed aside, so the local server's poller, which appends to it, starts a new
 * one meanwhile and never loses a line to this rewrite; the lines not replayed (and any the poller
 * appended to the renamed file) go back to the end of the file. A run that was stopped half-way
 * leaves its renamed file behind, and the next run takes it first.
 */
export async function replayFile(
  file: string,
  consumer: StreamConsumer,
  log: (line: string) => void,
): Promise<FileOutcome[]> {
  const leftovers = await abandonedClaims(file);
  const claimed = `${file}${CLAIMED}${process.pid}-${Date.now()}`;
  const own = await claim(file, claimed);
  const outcomes: FileOutcome[] = [];
  for (const work of [...leftovers, ...(own ? [claimed] : [])]) {
    const text = await readFile(work, 'utf8');
    const kept: string[] = [];
    for (const line of lines(text)) {
      const outcome = await replayLine(line, consumer);
      outcomes.push(outcome);
      log(report(outcome));
      if (outcome.kind !== 'replayed') kept.push(line);
    }
    // An append the poller had already begun when the file was renamed lands in the renamed file.
    const late = lines((await readFile(work, 'utf8')).slice(text.length));
    const back = [...kept, ...late];
    if (back.length > 0) await appendFile(file, back.map((line) => `${line}\n`).join(''));
    await unlink(work);
  }
  return outcomes;
}

async function replayLine(line: string, consumer: StreamConsumer): Promise<FileOutcome> {
  let letter: ReturnType<typeof localDeadLetter.parse>;
  try {
    letter = localDeadLetter.parse(JSON.parse(line));
  } catch (error) {
    return { kind: 'failed', reason: `not a dead-letter line: ${message(error)}` };
  }
  const batch = describeBatch(letter.DDBStreamBatchInfo);
  try {
    const answer: unknown = await consumer({ Records: letter.records });
    // Lambda reads no answer (or an empty one) as success, as the poller does.
    if (answer === undefined || answer === null)
      return { kind: 'replayed', batch, records: letter.records.length };
    const parsed = batchResponse.safeParse(answer);
    if (!parsed.success) return { kind: 'failed', batch, reason: 'the consumer answered no batch response' };
    const failed = firstFailure(parsed.data);
    return failed === undefined
      ? { kind: 'replayed', batch, records: letter.records.length }
      : { kind: 'failed', batch, reason: `the consumer reported record ${failed} failed` };
  } catch (error) {
    return { kind: 'failed', batch, reason: `the consumer threw: ${message(error)}` };
  }
}

/** Renames the file aside; false when there is no file (nothing dead-lettered). */
async function claim(file: string, claimed: string): Promise<boolean> {
  try {
    await rename(file, claimed);
    return true;
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  }
}

/** Renamed files of earlier runs whose process has gone. */
async function abandonedClaims(file: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dirname(file));
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
  const prefix = `${basename(file)}${CLAIMED}`;
  return names
    .filter((name) => name.startsWith(prefix) && !isRunning(Number(name.slice(prefix.length).split('-')[0])))
    .toSorted()
    .map((name) => join(dirname(file), name));
}

function isRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, but is someone else's.
    return error instanceof Error && 'code' in error && error.code === 'EPERM';
  }
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.trim() !== '');
}

function isMissing(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === 'ENOENT';
}

export function report(outcome: FileOutcome): string {
  return outcome.kind === 'replayed'
    ? `replayed    ${outcome.batch} (${outcome.records} records): line removed`
    : `FAILED      ${outcome.batch ?? 'a line'}: ${outcome.reason}; line kept`;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
