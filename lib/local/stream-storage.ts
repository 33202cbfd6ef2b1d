import { createRequire } from 'node:module';
import type { DatabaseSync } from 'node:sqlite';

/** What AWS keeps of a DynamoDB stream: 24 hours of records. */
export const STREAM_RETENTION_SECONDS = 24 * 60 * 60;

/** Records deleted per statement, so the engine never waits long for the file. */
const TRIM_BATCH = 1000;

/**
 * Dynoxide 1.2.1 keeps every table's stream records in one SQLite table, `_stream_records`, with no
 * index on the sequence number, and never deletes one. Each write numbers its record
 * `MAX(CAST(sequence_number AS INTEGER)) + 1` over the table's records, and each GetRecords filters
 * and sorts on the same expression: both scan every record ever written, so a store slows down with
 * every change (about 2 ms per UpdateItem fresh, 19 ms at 100,000 records).
 *
 * This opens the engine's file beside it and adds the two indexes those queries can use (SQLite uses
 * an index on an expression only when the query writes the same expression, so these copy the
 * engine's SQL; test/integration/stream-storage.test.ts checks them against the binary), and deletes
 * what AWS would no longer keep: records older than 24 hours that the consumer has handled.
 */
export class StreamStorage {
  private constructor(private readonly db: DatabaseSync) {}

  /**
   * Indexes the engine's stream records in the file at `dbPath`, once the engine has created its
   * schema. Undefined when the file does not hold the layout this expects (another engine version):
   * the engine then works as it is, only slower as its stream grows.
   */
  static open(
    dbPath: string,
    log: (message: string, details?: Record<string, unknown>) => void = () => undefined,
  ): StreamStorage | undefined {
    const db = new (loadSqlite().DatabaseSync)(dbPath);
    try {
      // The engine holds the file's write lock for one request at a time; wait that out.
      db.exec('PRAGMA busy_timeout = 2000');
      const columns = new Set(
        db
          .prepare('SELECT name FROM pragma_table_info(?)')
          .all('_stream_records')
          .map((row) => String(row.name)),
      );
      const expected = ['table_name', 'shard_id', 'sequence_number', 'created_at'];
      if (!expected.every((column) => columns.has(column))) {
        log('the local engine stores its stream in an unexpected layout; its stream is not indexed', {
          dbPath,
        });
        db.close();
        return undefined;
      }
      db.exec(`
        CREATE INDEX IF NOT EXISTS counter_service_stream_by_table
          ON _stream_records (table_name, CAST(sequence_number AS INTEGER));
        CREATE INDEX IF NOT EXISTS counter_service_stream_by_shard
          ON _stream_records (table_name, shard_id, CAST(sequence_number AS INTEGER));
      `);
      return new StreamStorage(db);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /** How many stream records the file holds for `table`. */
  count(table: string): number {
    const row = this.db.prepare('SELECT COUNT(*) AS n FROM _stream_records WHERE table_name = ?').get(table);
    return Number(row?.n ?? 0);
  }

  /**
   * Deletes `table`'s records on `shardId` that are older than `retentionSeconds` and at or before
   * `handledThrough`, the last sequence number the consumer has handled: a record it has not handled
   * stays, however old, so nothing is lost while the server was stopped. The newest record always
   * stays too, because the engine numbers the next one from it. Deletes a batch at a time, letting
   * the event loop (the server's requests) run between batches. Returns how many went.
   */
  async trim(
    table: string,
    shardId: string,
    handledThrough: string,
    options: { retentionSeconds?: number; now?: Date } = {},
  ): Promise<number> {
    if (!/^\d{1,18}$/.test(handledThrough)) return 0;
    const cutoff =
      Math.floor((options.now ?? new Date()).getTime() / 1000) -
      (options.retentionSeconds ?? STREAM_RETENTION_SECONDS);
    const remove = this.db.prepare(`
      DELETE FROM _stream_records WHERE rowid IN (
        SELECT rowid FROM _stream_records
        WHERE table_name = :table AND shard_id = :shard
          AND CAST(sequence_number AS INTEGER) <= :handled
          AND CAST(sequence_number AS INTEGER) < (
            SELECT MAX(CAST(sequence_number AS INTEGER)) FROM _stream_records WHERE table_name = :table
          )
          AND created_at < :cutoff
        ORDER BY CAST(sequence_number AS INTEGER)
        LIMIT :batch
      )`);
    let removed = 0;
    for (;;) {
      const { changes } = remove.run({
        table,
        shard: shardId,
        handled: BigInt(handledThrough),
        cutoff,
        batch: TRIM_BATCH,
      });
      removed += Number(changes);
      if (Number(changes) < TRIM_BATCH) return removed;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  close(): void {
    this.db.close();
  }
}

/**
 * node:sqlite, without the warning Node.js 22 prints on loading it: it is marked experimental, and
 * the line would only alarm someone running `npm start`.
 */
function loadSqlite(): typeof import('node:sqlite') {
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (String(warning).includes('SQLite')) return;
    return (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return createRequire(import.meta.url)('node:sqlite') as typeof import('node:sqlite');
  } finally {
    process.emitWarning = emitWarning;
  }
}
