import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/** How long the rest of a refused body is read and dropped before its connection is cut. */
const LINGER_MS = 2_000;

/** As API Gateway maps a payload-2.0 result: a structured result as is, anything else as JSON 200. */
export function writeResult(res: ServerResponse, result: unknown, requestId: string): void {
  if (!isStructured(result)) {
    send(res, 200, result, requestId);
    return;
  }
  const body =
    result.body === undefined
      ? Buffer.alloc(0)
      : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
  const headers: Record<string, string | number | string[]> = { 'apigw-requestid': requestId };
  for (const [name, value] of Object.entries(result.headers ?? {}))
    headers[name.toLowerCase()] = String(value);
  if (result.cookies !== undefined && result.cookies.length > 0) headers['set-cookie'] = result.cookies;
  if (result.statusCode !== 204 && result.statusCode !== 304) headers['content-length'] = body.length;
  res.writeHead(result.statusCode ?? 200, headers);
  res.end(result.statusCode === 204 ? undefined : body);
}

function isStructured(result: unknown): result is APIGatewayProxyStructuredResultV2 {
  return typeof result === 'object' && result !== null && 'statusCode' in result;
}

/** A JSON answer, as API Gateway writes its own (`{"message": ...}`). */
export function send(res: ServerResponse, status: number, body: unknown, requestId?: string): void {
  const text = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': text.length,
    ...(requestId === undefined ? {} : { 'apigw-requestid': requestId }),
  });
  res.end(text);
}

/** API Gateway's own answer to a body over its 10 MiB, before any function runs. */
export function gatewayTooLarge(): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: 413,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message: 'Request Entity Too Large' }),
  };
}

/**
 * Answers 413 at once, before the rest of the body. What the client still sends is read and dropped,
 * never kept: a client that writes its whole body before it reads (most do) then gets the answer
 * rather than a reset. A body still arriving after LINGER_MS has its connection cut.
 */
export function refuseBody(
  req: IncomingMessage,
  res: ServerResponse,
  result: APIGatewayProxyStructuredResultV2,
): void {
  req.on('data', () => undefined);
  req.resume();
  if (!req.complete) {
    const cut = setTimeout(() => req.socket.destroy(), LINGER_MS);
    const keep = () => clearTimeout(cut);
    req.once('end', keep);
    req.once('close', keep);
  }
  writeResult(res, result, randomUUID());
}

/**
 * The body, or undefined as soon as it passes `limit`, when reading pauses. (Leaving a `for await`
 * early would destroy the socket before the 413 could be sent.)
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        settle();
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      settle();
      resolve(Buffer.concat(chunks));
    };
    const onError = (error: Error) => {
      settle();
      reject(error);
    };
    const onClose = () => {
      settle();
      reject(new Error('the client closed the connection before the body ended'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** Node's headers as API Gateway passes them on: one string per name, repeated ones joined. */
export function flattenHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}
