/**
 * The local tables' names for a prefix, as `npm start` creates them (lib/local/server.ts) and the
 * dead-letter replay (scripts/replay-dead-letters.ts) finds them.
 */
export function localTableNames(prefix = 'counter-service') {
  return {
    counters: `${prefix}-counters`,
    history: `${prefix}-history`,
    idempotency: `${prefix}-idempotency`,
    rollups: `${prefix}-rollups`,
    checkpoints: `${prefix}-local-checkpoints`,
  };
}
