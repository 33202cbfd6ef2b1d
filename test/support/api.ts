import { expect } from 'vitest';
import { type CallOptions, type CallResult, call, eventually } from './signed-client.ts';

export interface CounterBody {
  name: string;
  value: number;
  version: number;
  created_at: string | null;
  updated_at: string | null;
}

export interface HistoryBody {
  version: number;
  value: number;
  delta: number;
  op: 'increment' | 'set';
  created_at: string;
  actor: string;
}

/** The signed client of one server (`api(url)`). */
export type Api = ReturnType<typeof api>;

/**
 * A signed client bound to one server. The URL may be given as a function, read at each call, so a
 * client can be made before the server it talks to has started (useServer).
 */
export function api(baseUrl: string | (() => string)) {
  const send = (method: string, path: string, options?: CallOptions): Promise<CallResult> =>
    call(typeof baseUrl === 'string' ? baseUrl : baseUrl(), method, path, options);
  return {
    send,
    get: (path: string, options?: CallOptions) => send('GET', path, options),
    post: (path: string, options?: CallOptions) => send('POST', path, options),
    put: (path: string, options?: CallOptions) => send('PUT', path, options),
    delete: (path: string, options?: CallOptions) => send('DELETE', path, options),

    async counter(path: string): Promise<CounterBody> {
      const response = await send('GET', path);
      expect(response.status, response.text).toBe(200);
      return response.json as CounterBody;
    },

    /** Every page of a listing, following `Link: <...>; rel="next"`. */
    async all<T>(path: string): Promise<T[]> {
      const items: T[] = [];
      let next: string | undefined = path;
      while (next !== undefined) {
        const response: CallResult = await send('GET', next);
        expect(response.status, response.text).toBe(200);
        items.push(...(response.json as T[]));
        next = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get('link') ?? '')?.[1];
      }
      return items;
    },

    /** Waits until the history holds `count` entries (history follows the stream). */
    async historyOf(path: string, count: number, timeoutMs = 30_000): Promise<HistoryBody[]> {
      return eventually(
        async () => {
          const entries = await this.all<HistoryBody>(`${path}/history?limit=1000`);
          return entries.length >= count ? entries : undefined;
        },
        timeoutMs,
        `${count} history entries at ${path}`,
      );
    },
  };
}

/** The history's own invariants (docs/api.md section 3): versions 1..n, each value the previous plus its delta. */
export function expectExactHistory(entries: HistoryBody[], finalValue: number): void {
  entries.forEach((entry, index) => {
    expect(entry.version).toBe(index + 1);
    const previous = index === 0 ? 0 : (entries[index - 1]?.value ?? Number.NaN);
    expect(entry.value).toBe(previous + entry.delta);
  });
  expect(entries.at(-1)?.value ?? 0).toBe(finalValue);
}
