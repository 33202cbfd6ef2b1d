import { startConsole } from '../../console/server.ts';
import { portNumber, upTo } from './arguments.ts';
import { type CommandContext, stopSignal } from './command.ts';
import { EXIT } from './exit-codes.ts';

/** The console's port unless --port says otherwise: beside the local API's 3000. */
export const DEFAULT_CONSOLE_PORT = 3001;

/** `console`: serves the web console on loopback until stopped. */
export async function consoleCommand(context: CommandContext): Promise<number> {
  const { client, options, say } = context;
  upTo(context.args, [], []);
  const port = options.port === undefined ? DEFAULT_CONSOLE_PORT : portNumber(options.port);
  const signal = stopSignal(context.io);
  let server: Awaited<ReturnType<typeof startConsole>>;
  try {
    server = await startConsole({ client, port, log: say });
  } catch (error) {
    if (!isAddressInUse(error)) throw error;
    say(`counter: port ${port} on 127.0.0.1 is in use; choose another with --port (0 picks a free one)`);
    return EXIT.failed;
  }
  await context.write(`Counter console on ${server.url} for ${client.url.href} (Ctrl-C stops)`);
  await aborted(signal);
  await server.close();
  return EXIT.ok;
}

function isAddressInUse(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === 'EADDRINUSE';
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
