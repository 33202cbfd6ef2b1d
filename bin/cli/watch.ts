import type { Counter, CounterClient, HistoryEntry } from '../../client/counter-client.ts';
import { CounterApiError, CounterNetworkError } from '../../client/errors.ts';
import {
  describeCounter,
  formatRows,
  HISTORY_HEADER,
  HISTORY_RIGHT_ALIGNED,
  historyRow,
  widthsOf,
} from './format.ts';

export interface WatchOptions {
  client: CounterClient;
  name: string;
  everyMs: number;
  /** How many recent changes a terminal shows. */
  recent?: number;
  /** A terminal gets a screen redrawn in place; anything else a line per new state. */
  tty: boolean;
  json: boolean;
  write: (text: string) => Promise<void>;
  signal: AbortSignal;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  now?: () => number;
}

/** How far back the first look at the history goes, so a busy counter's first read stays small. */
const FIRST_LOOK_MS = 10 * 60_000;

/**
 * Shows a counter and its latest changes until `signal` aborts, reading them again every `everyMs`.
 * History follows the stream, so it is read only while it lags the counter's version, and only from
 * the last change already seen. A counter deleted and created again starts afresh. The API being out
 * of reach is shown and waited out; a refusal (403, 400) ends the watch, as it would not pass by itself.
 */
export async function watchCounter(options: WatchOptions): Promise<void> {
  const { client, name, signal } = options;
  const now = options.now ?? Date.now;
  const keep = options.recent ?? 10;
  let recent: HistoryEntry[] = [];
  let since = new Date(now() - FIRST_LOOK_MS).toISOString();
  let lastShown: string | undefined;

  while (!signal.aborted) {
    let counter: Counter | undefined;
    let trouble: string | undefined;
    try {
      counter = await client.get(name);
    } catch (error) {
      if (error instanceof CounterNetworkError) trouble = error.message;
      else if (!(error instanceof CounterApiError && error.status === 404)) throw error;
    }
    const seen = recent.at(-1)?.version ?? 0;
    if (trouble === undefined && (counter === undefined || counter.version < seen)) {
      // Gone, or deleted and created again: the changes shown belonged to the one before.
      recent = [];
    }
    if (counter !== undefined && counter.version > (recent.at(-1)?.version ?? 0)) {
      try {
        for await (const entry of client.history(name, { since, limit: 1000 })) {
          if (entry.version <= (recent.at(-1)?.version ?? 0)) continue;
          recent.push(entry);
          if (recent.length > keep) recent.shift();
          since = entry.created_at;
        }
      } catch (error) {
        if (error instanceof CounterNetworkError) trouble = error.message;
        else if (!(error instanceof CounterApiError && error.status === 404)) throw error;
      }
    }

    if (options.tty) {
      await options.write(screen(options, counter, recent, trouble));
    } else {
      // A line per state, not per look: a log of a quiet counter stays short.
      const state =
        trouble !== undefined
          ? `counter: ${trouble}`
          : counter === undefined
            ? options.json
              ? JSON.stringify({ name, exists: false })
              : `${name} does not exist`
            : options.json
              ? JSON.stringify(counter)
              : describeCounter(counter);
      if (state !== lastShown) await options.write(`${state}\n`);
      lastShown = state;
    }
    await options.sleep(options.everyMs, signal);
  }
}

function screen(
  options: WatchOptions,
  counter: Counter | undefined,
  recent: HistoryEntry[],
  trouble: string | undefined,
): string {
  const lines = [
    `${options.name} at ${options.client.url.href}, every ${options.everyMs / 1000} s (Ctrl-C stops)`,
    '',
    counter !== undefined
      ? describeCounter(counter)
      : trouble === undefined
        ? `${options.name} does not exist`
        : `${options.name}: not known just now`,
    '',
  ];
  if (recent.length === 0) lines.push('no recent changes');
  else {
    const rows = [HISTORY_HEADER, ...[...recent].reverse().map(historyRow)];
    lines.push(`latest changes, newest first:`, ...formatRows(rows, widthsOf(rows), HISTORY_RIGHT_ALIGNED));
  }
  if (trouble !== undefined) lines.push('', `(${trouble}; trying again)`);
  // Home, clear to the end: the screen is redrawn in place rather than scrolled.
  return `\x1b[H\x1b[J${lines.join('\n')}\n`;
}
