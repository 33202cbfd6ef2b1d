import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { CounterClient } from '../client/counter-client.ts';
import { CounterCredentialsError, CounterNetworkError } from '../client/errors.ts';
import { checkRequest } from './guard.ts';
import {
  type BrowserAnswer,
  ConsoleProblem,
  MAX_BODY_BYTES,
  problem,
  toBrowser,
  toUpstream,
} from './proxy.ts';

const require = createRequire(import.meta.url);
const PUBLIC = new URL('./public/', import.meta.url);

/** The files the page needs, every one from the package: nothing comes from a CDN. */
const ASSETS: Record<string, { file: URL | string; type: string }> = {
  '/': { file: new URL('index.html', PUBLIC), type: 'text/html; charset=utf-8' },
  '/app.js': { file: new URL('app.js', PUBLIC), type: 'text/javascript; charset=utf-8' },
  '/chart.js': { file: new URL('chart.js', PUBLIC), type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: new URL('style.css', PUBLIC), type: 'text/css; charset=utf-8' },
  '/vendor/uPlot.esm.js': {
    file: require.resolve('uplot/dist/uPlot.esm.js'),
    type: 'text/javascript; charset=utf-8',
  },
  '/vendor/uPlot.min.css': {
    file: require.resolve('uplot/dist/uPlot.min.css'),
    type: 'text/css; charset=utf-8',
  },
};

const SECURITY_HEADERS = {
  // Scripts, styles and calls only from the console itself; uPlot's inline style attributes are set
  // from script (CSSOM), which style-src does not govern.
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export interface ConsoleOptions {
  /** Signs and sends every call to the counter service. */
  client: CounterClient;
  /** 0 picks a free port. */
  port: number;
  /** Told about failures the page cannot see (a static file that could not be read). */
  log?: (message: string) => void;
}

export interface ConsoleServer {
  url: string;
  close(): Promise<void>;
}

/**
 * The console: its page and scripts, and its API, which sends the page's calls on to the counter
 * service signed with the console's own credentials, so none ever reaches the browser. It listens on
 * loopback only and answers only its own pages (guard.ts).
 */
export async function startConsole(options: ConsoleOptions): Promise<ConsoleServer> {
  let port = options.port;
  const server: Server = createServer((request, response) => {
    handle(request, response, port, options).catch((error: unknown) => {
      options.log?.(`console: ${error instanceof Error ? error.message : String(error)}`);
      if (!response.headersSent) send(response, problem(500, 'Internal Server Error', 'The console failed.'));
      else response.destroy();
    });
  });
  // A request that dawdles must not hold a connection for ever.
  server.requestTimeout = 60_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        server.closeAllConnections();
      }),
  };
}

async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  port: number,
  options: ConsoleOptions,
): Promise<void> {
  const method = request.method ?? 'GET';
  const target = request.url ?? '/';
  const path = target.split('?')[0] ?? '/';
  const api = path === '/api' || path.startsWith('/api/');
  const verdict = checkRequest(
    {
      host: request.headers.host,
      origin: request.headers.origin,
      secFetchSite: single(request.headers['sec-fetch-site']),
      api,
    },
    port,
  );
  if (!verdict.allowed) {
    request.resume();
    return send(response, problem(403, 'Forbidden', verdict.detail));
  }
  if (!api) {
    request.resume();
    return serveAsset(response, method, path);
  }
  if (path === '/api/config') {
    request.resume();
    return send(response, {
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ api: options.client.url.href, region: options.client.region }),
    });
  }
  return forward(request, response, { method, target }, options.client);
}

/** One of the page's own files, never cached stale. */
async function serveAsset(response: ServerResponse, method: string, path: string): Promise<void> {
  const asset = ASSETS[path];
  if (asset === undefined) return send(response, problem(404, 'Not Found', `The console has no ${path}.`));
  if (method !== 'GET' && method !== 'HEAD') {
    return send(response, problem(405, 'Method Not Allowed', `${path} takes GET.`, { allow: 'GET, HEAD' }));
  }
  const content = await readFile(asset.file);
  response.writeHead(200, {
    ...SECURITY_HEADERS,
    'content-type': asset.type,
    'content-length': String(content.length),
    'cache-control': 'no-cache',
  });
  response.end(method === 'HEAD' ? undefined : content);
}

/** A call of the console's API, signed and sent on to the service; its answer as the page reads it. */
async function forward(
  request: IncomingMessage,
  response: ServerResponse,
  { method, target }: { method: string; target: string },
  client: CounterClient,
): Promise<void> {
  try {
    const body = await readBody(request);
    const upstream = toUpstream({ method, target, headers: request.headers, body });
    const answer = await client.request(upstream.method, upstream.path, {
      body: upstream.body,
      headers: upstream.headers,
    });
    return send(response, toBrowser(answer, upstream));
  } catch (error) {
    if (error instanceof ConsoleProblem) {
      return send(response, problem(error.status, error.title, error.detail, error.headers));
    }
    if (error instanceof CounterNetworkError) {
      return send(
        response,
        problem(502, 'Bad Gateway', `The counter service did not answer: ${error.message}`),
      );
    }
    if (error instanceof CounterCredentialsError) {
      return send(
        response,
        problem(502, 'Bad Gateway', `The console cannot sign its calls: ${error.message}`),
      );
    }
    throw error;
  }
}

/** The body, up to the service's own limit; a longer one is refused (413) without reading it all. */
async function readBody(request: IncomingMessage): Promise<string | undefined> {
  const declared = Number(request.headers['content-length'] ?? '0');
  if (declared > MAX_BODY_BYTES) {
    request.resume();
    throw new ConsoleProblem(413, 'Content Too Large', `A body may hold at most ${MAX_BODY_BYTES} bytes.`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  // Read to the end even past the limit (the request timeout bounds it): leaving the loop early would
  // destroy the socket, and the refusal with it.
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size <= MAX_BODY_BYTES) chunks.push(buffer);
  }
  if (size > MAX_BODY_BYTES) {
    throw new ConsoleProblem(413, 'Content Too Large', `A body may hold at most ${MAX_BODY_BYTES} bytes.`);
  }
  return chunks.length === 0 ? undefined : Buffer.concat(chunks).toString('utf8');
}

function send(response: ServerResponse, answer: BrowserAnswer): void {
  response.writeHead(answer.status, {
    ...SECURITY_HEADERS,
    'cache-control': 'no-store',
    ...answer.headers,
    'content-length': String(Buffer.byteLength(answer.body)),
  });
  response.end(answer.body);
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
