import { describe, expect, it } from 'vitest';
import { checkRequest } from '../../console/guard.ts';

const PORT = 3001;
const api = (facts: { host?: string; origin?: string; secFetchSite?: string }) =>
  checkRequest({ host: facts.host, origin: facts.origin, secFetchSite: facts.secFetchSite, api: true }, PORT);

describe('console guard', () => {
  it("allows its own page's calls, by either loopback name, with or without the browser's headers", () => {
    expect(api({ host: '127.0.0.1:3001' })).toEqual({ allowed: true });
    expect(
      api({ host: 'localhost:3001', origin: 'http://localhost:3001', secFetchSite: 'same-origin' }),
    ).toEqual({
      allowed: true,
    });
    expect(api({ host: 'LOCALHOST:3001', origin: 'http://127.0.0.1:3001' })).toEqual({ allowed: true });
  });

  it('refuses a Host that is not its own, as a DNS-rebinding page sends, whatever is asked for', () => {
    for (const host of [
      'evil.example:3001',
      '127.0.0.1:3002',
      '127.0.0.1',
      'localhost',
      '[::1]:3001',
      undefined,
    ]) {
      expect(api({ ...(host === undefined ? {} : { host }) }).allowed, String(host)).toBe(false);
      expect(
        checkRequest({ host, origin: undefined, secFetchSite: undefined, api: false }, PORT).allowed,
        String(host),
      ).toBe(false);
    }
  });

  it('refuses calls from another origin, and from another site per Sec-Fetch-Site', () => {
    const refused = [
      api({ host: '127.0.0.1:3001', origin: 'http://evil.example' }),
      api({ host: '127.0.0.1:3001', origin: 'null' }),
      api({ host: '127.0.0.1:3001', origin: 'http://127.0.0.1:3002' }),
      api({ host: '127.0.0.1:3001', origin: 'https://127.0.0.1:3001' }),
      api({ host: '127.0.0.1:3001', secFetchSite: 'cross-site' }),
      api({ host: '127.0.0.1:3001', secFetchSite: 'same-site' }),
    ];

    for (const verdict of refused) {
      expect(verdict).toEqual({ allowed: false, detail: expect.stringMatching(/only its own pages/) });
    }
  });

  it('serves its page to a navigation from elsewhere, which carries nothing it can misuse', () => {
    expect(
      checkRequest(
        { host: '127.0.0.1:3001', origin: undefined, secFetchSite: 'cross-site', api: false },
        PORT,
      ),
    ).toEqual({ allowed: true });
  });
});
