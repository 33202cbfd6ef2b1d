import {
  CounterApiError,
  CounterCredentialsError,
  CounterNetworkError,
  UnexpectedAnswerError,
} from '../../client/errors.ts';
import { ImportFormatError } from '../../client/export-format.ts';
import { UsageError } from './arguments.ts';

export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

/**
 * The exit code for a command that failed with `error`, having told the user why on stderr (`say`).
 * An error no command expects is thrown on: a bug, which should show its stack.
 */
export function exitCodeOf(error: unknown, say: (text: string) => void): number {
  if (error instanceof UsageError) {
    say(`counter: ${error.message}\nRun "counter --help" for usage.`);
    return EXIT.usage;
  }
  if (error instanceof CounterApiError) {
    say(`counter: ${describeApiError(error)}`);
    return error.isAuthError ? EXIT.unreachable : EXIT.failed;
  }
  if (error instanceof CounterNetworkError || error instanceof CounterCredentialsError) {
    say(`counter: ${error.message}`);
    return EXIT.unreachable;
  }
  if (error instanceof ImportFormatError || error instanceof UnexpectedAnswerError) {
    say(`counter: ${error.message}`);
    return EXIT.failed;
  }
  if (isBrokenPipe(error)) return EXIT.ok;
  if (error instanceof RangeError || isFileError(error)) {
    say(`counter: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.failed;
  }
  throw error;
}

function describeApiError(error: CounterApiError): string {
  const what = error.problem === undefined ? `${error.status}` : `${error.status} ${error.problem}`;
  const detail = error.detail ?? error.title ?? 'no detail given';
  const hint = error.status === 403 ? ' (check the credentials, the region and the grants)' : '';
  return `${detail} [${what}]${hint}`;
}

function isBrokenPipe(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === 'EPIPE';
}

function isFileError(error: unknown): boolean {
  return error instanceof Error && 'code' in error && (error.code === 'ENOENT' || error.code === 'EISDIR');
}
