import type { Counter, HistoryEntry } from '../../client/counter-client.ts';

/** `page-views = 42  (version 3, updated ...)`, with the counter's bounds when it has any. */
export function describeCounter(counter: Counter): string {
  const when = counter.updated_at === null ? 'never changed' : `updated ${counter.updated_at}`;
  return `${counter.name} = ${counter.value}  (version ${counter.version}, ${when}${describeBounds(counter)})`;
}

function describeBounds(counter: Counter): string {
  const bounds = [
    ...(counter.min === undefined || counter.min === null ? [] : [`min ${counter.min}`]),
    ...(counter.max === undefined || counter.max === null ? [] : [`max ${counter.max}`]),
  ];
  return bounds.length === 0 ? '' : `, ${bounds.join(', ')}`;
}

export const HISTORY_HEADER = ['VERSION', 'OP', 'DELTA', 'VALUE', 'AT', 'ACTOR'];
export const HISTORY_RIGHT_ALIGNED = [true, false, true, true, false, false];

export function historyRow(entry: HistoryEntry): string[] {
  const delta = entry.delta > 0 ? `+${entry.delta}` : String(entry.delta);
  return [String(entry.version), entry.op, delta, String(entry.value), entry.created_at, entry.actor];
}

/** Rows as aligned text columns, the last column left ragged. */
export function formatRows(rows: string[][], widths: number[], rightAligned: boolean[]): string[] {
  return rows.map((row) =>
    row
      .map((cell, index) => {
        if (rightAligned[index] === true) return cell.padStart(widths[index] ?? 0);
        return index === row.length - 1 ? cell : cell.padEnd(widths[index] ?? 0);
      })
      .join('  '),
  );
}

/** Column widths that fit every cell of the rows given. */
export function widthsOf(rows: string[][]): number[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, index) => {
      widths[index] = Math.max(widths[index] ?? 0, cell.length);
    });
  }
  return widths;
}
