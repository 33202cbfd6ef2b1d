import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { useServer } from '../support/server-process.ts';

// The local server under hostile connections (issue 13): bodies over the 16 KiB limit, refused
// before they are read (and the connection cut if the body is still coming 2 s later), and idle
// connections, closed after LOCAL_IDLE_TIMEOUT_SECONDS.

const KIB = 1024;
/** A piece of body every few milliseconds: 4 MiB would take over 10 s to arrive. */
const PIECE = 4 * KIB;
const PIECE_INTERVAL_MS = 10;

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A raw connection to the server, recording what it answers and whether the server closed it. */
class RawConnection {
  readonly socket: Socket;
  private received = '';
  private closedByServer = false;
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    // A server that closes while a piece is still on its way resets the connection: that is its close too.
    socket.on('error', () => {
      this.closedByServer = true;
    });
    socket.on('data', (chunk: Buffer) => {
      this.received += chunk.toString('latin1');
    });
    socket.on('end', () => {
      this.closedByServer = true;
    });
    // Not events.once, which rejects on the reset a cut connection may end with.
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static async open(url: string): Promise<RawConnection> {
    const { hostname, port } = new URL(url);
    const socket = connect(Number(port), hostname);
    await once(socket, 'connect');
    return new RawConnection(socket);
  }

  /** The first complete answer received, if any. */
  answer(): Answer | undefined {
    const end = this.received.indexOf('\r\n\r\n');
    if (end === -1) return undefined;
    const [statusLine = '', ...lines] = this.received.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    const body = this.received.slice(end + 4);
    if (body.length < length) return undefined;
    return { status: Number(statusLine.split(' ')[1]), headers, body: body.slice(0, length) };
  }

  /**
   * Writes `head`, then each piece in turn, a piece every few ms, until the pieces run out or the
   * connection closes, whether or not an answer has come. Resolves at the first answer, with the
   * pieces sent by then; `piecesSent` keeps counting.
   */
  async sendSlowly(head: string, pieces: string[]): Promise<{ answer: Answer; piecesSent: number }> {
    this.socket.write(head);
    this.piecesSent = 0;
    let answered: { answer: Answer; piecesSent: number } | undefined;
    const sending = (async () => {
      while (!this.socket.destroyed && !this.socket.writableEnded) {
        answered ??= this.answerWith(this.piecesSent);
        const piece = pieces[this.piecesSent];
        if (piece === undefined) {
          if (answered !== undefined) return;
        } else {
          this.socket.write(piece);
          this.piecesSent++;
        }
        await new Promise((resolve) => setTimeout(resolve, PIECE_INTERVAL_MS));
      }
    })();
    for (;;) {
      if (answered !== undefined) return answered;
      if (this.socket.destroyed) {
        await sending;
        throw new Error(`closed without an answer after ${this.piecesSent} pieces`);
      }
      await new Promise((resolve) => setTimeout(resolve, PIECE_INTERVAL_MS));
    }
  }

  /** How many pieces the last sendSlowly has written so far. */
  piecesSent = 0;

  private answerWith(piecesSent: number) {
    const answer = this.answer();
    return answer === undefined ? undefined : { answer, piecesSent };
  }

  async request(head: string): Promise<Answer> {
    this.received = '';
    return (await this.sendSlowly(head, [])).answer;
  }

  /** True once the close came from the server's side (its FIN or reset), not from ours. */
  serverClosed(): boolean {
    return this.closedByServer;
  }
}

describe('the local server under hostile connections', () => {
  const server = useServer({ env: { LOCAL_IDLE_TIMEOUT_SECONDS: '1' } }, 'SIGTERM');
  let host: string;

  beforeAll(() => {
    host = new URL(server.url).host;
  });

  const expectTooLarge = (answer: Answer) => {
    expect(answer.status).toBe(413);
    expect(answer.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(answer.body)).toEqual({
      type: '/problems/payload-too-large',
      title: 'Payload too large',
      status: 413,
      detail: 'The request body must be at most 16384 bytes.',
    });
  };

  it('answers an unsigned body declared over 16 KiB with 413 problem+json before the body has arrived, then cuts it off', async () => {
    const connection = await RawConnection.open(server.url);
    const pieces = Array.from({ length: 1024 }, () => 'x'.repeat(PIECE));
    const head =
      `POST /counters/hostile.declared HTTP/1.1\r\nHost: ${host}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${pieces.length * PIECE}\r\n\r\n`;

    const { answer, piecesSent } = await connection.sendSlowly(head, pieces);
    await connection.closed;

    expectTooLarge(answer);
    // Answered while the body was still trickling in, and cut off while it still was: the server
    // waited for neither.
    expect(piecesSent).toBeLessThan(pieces.length);
    expect(connection.piecesSent).toBeLessThan(pieces.length);
    expect(connection.serverClosed()).toBe(true);
  }, 15_000);

  it('stops keeping a chunked body once it passes 16 KiB: 413 problem+json before the body ends, then cuts it off', async () => {
    const connection = await RawConnection.open(server.url);
    const pieces = Array.from({ length: 1024 }, () => `${PIECE.toString(16)}\r\n${'x'.repeat(PIECE)}\r\n`);
    const head =
      `POST /counters/hostile.chunked HTTP/1.1\r\nHost: ${host}\r\n` +
      'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';

    const { answer, piecesSent } = await connection.sendSlowly(head, [...pieces, '0\r\n\r\n']);
    await connection.closed;

    expectTooLarge(answer);
    expect(piecesSent).toBeLessThan(pieces.length);
    expect(connection.piecesSent).toBeLessThan(pieces.length);
    expect(connection.serverClosed()).toBe(true);
  }, 15_000);

  it("answers a body declared over API Gateway's 10 MiB with API Gateway's own 413 at once", async () => {
    const connection = await RawConnection.open(server.url);
    const head =
      `POST /counters/hostile.huge HTTP/1.1\r\nHost: ${host}\r\n` +
      `Content-Length: ${10 * KIB * KIB + 1}\r\n\r\n`;

    const { answer, piecesSent } = await connection.sendSlowly(head, ['x'.repeat(PIECE)]);
    await connection.closed;

    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toEqual({ message: 'Request Entity Too Large' });
    expect(piecesSent).toBeLessThanOrEqual(1);
  }, 15_000);

  it('closes a connection that never sends a request once it has been idle for LOCAL_IDLE_TIMEOUT_SECONDS', async () => {
    const connection = await RawConnection.open(server.url);

    await connection.closed;

    expect(connection.serverClosed()).toBe(true);
  }, 15_000);

  it('keeps a connection in use open, and closes it once it has been idle for LOCAL_IDLE_TIMEOUT_SECONDS', async () => {
    const connection = await RawConnection.open(server.url);
    const head = `GET /health HTTP/1.1\r\nHost: ${host}\r\n\r\n`;

    // Four requests 400 ms apart: longer in all than the 1 s idle timeout, never idle that long.
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 400));
      statuses.push((await connection.request(head)).status);
    }
    await connection.closed;

    expect(statuses).toEqual([200, 200, 200, 200]);
    expect(connection.serverClosed()).toBe(true);
  }, 15_000);
});
