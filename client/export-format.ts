import { z } from 'zod';
import { counterSchema, historyEntrySchema } from './counter-client.ts';

/**
 * The export format, JSON Lines: a header, then for each counter one `counter` line followed by one
 * `history` line per change, oldest first. A counter's history is never held in memory whole, on
 * either side, however long it is.
 */
export const EXPORT_FORMAT = 'counter-service-export/1';

export const headerLine = z.object({
  type: z.literal('export'),
  format: z.literal(EXPORT_FORMAT),
  exported_at: z.string(),
  source: z.string(),
  prefix: z.string(),
});
export const counterLine = counterSchema.extend({ type: z.literal('counter') });
export const historyLine = historyEntrySchema.extend({ type: z.literal('history'), name: z.string() });
export const exportLine = z.discriminatedUnion('type', [headerLine, counterLine, historyLine]);
export type ExportLine = z.infer<typeof exportLine>;
export type HistoryLine = z.infer<typeof historyLine>;

/** The input is not an export this version can read. The import stops at that line. */
export class ImportFormatError extends Error {
  constructor(
    readonly line: number,
    detail: string,
  ) {
    super(`line ${line}: ${detail}`);
    this.name = 'ImportFormatError';
  }
}

/** Parses one line of an export; the error names the line and what was wrong with it. */
export function parseLine(text: string, lineNumber: number): ExportLine {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ImportFormatError(lineNumber, 'not JSON');
  }
  const result = exportLine.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ImportFormatError(
      lineNumber,
      `not a line of a ${EXPORT_FORMAT} export` +
        (issue === undefined ? '' : ` (${issue.path.join('.') || 'line'}: ${issue.message})`),
    );
  }
  return result.data;
}
