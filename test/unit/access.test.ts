import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  accessIncludes,
  accessPatterns,
  InvalidPrefixError,
  isAllowed,
  matchesPattern,
} from '../../lib/access.ts';
import { type Access, ROUTES } from '../../lib/routes.ts';

const LEVELS: Access[] = ['read', 'increment', 'write'];

describe('accessPatterns', () => {
  it('gives read every GET route', () => {
    expect(accessPatterns('read')).toEqual([
      'GET/counters',
      'GET/counters/*',
      'GET/counters/*/history',
      'GET/counters/*/series',
      'GET/counter',
      'GET/counter/history',
    ]);
  });

  it('gives increment the POST routes', () => {
    expect(accessPatterns('increment')).toEqual(['POST/counters/*', 'POST/counter']);
  });

  it('gives write the POST, PUT and DELETE routes', () => {
    expect(accessPatterns('write')).toEqual([
      'POST/counters/*',
      'PUT/counters/*',
      'DELETE/counters/*',
      'POST/counter',
      'PUT/counter',
    ]);
  });

  it('limits a prefix grant to the counters the prefix names, without the listing', () => {
    expect(accessPatterns('read', 'shop.')).toEqual([
      'GET/counters/shop.*',
      'GET/counters/shop.*/history',
      'GET/counters/shop.*/series',
    ]);
    expect(accessPatterns('increment', 'shop.')).toEqual(['POST/counters/shop.*']);
  });

  it('includes the seed routes in a prefix grant only when "default" starts with the prefix', () => {
    expect(accessPatterns('increment', 'def')).toEqual(['POST/counters/def*', 'POST/counter']);
    expect(accessPatterns('increment', 'default')).toEqual(['POST/counters/default*', 'POST/counter']);
    expect(accessPatterns('increment', 'defaults')).toEqual(['POST/counters/defaults*']);
    expect(accessPatterns('increment', 'Def')).toEqual(['POST/counters/Def*']);
  });

  it('accepts prefixes of 1 to 127 name characters', () => {
    expect(accessPatterns('read', 'a')).toHaveLength(3);
    expect(accessPatterns('read', 'A-z_0.9:')).toHaveLength(3);
    expect(accessPatterns('read', 'x'.repeat(127))).toHaveLength(3);
  });

  it.each(['', 'x'.repeat(128), 'shop*', 'sh?p', 'a/b', 'a b', 'naïve', 'a#b'])(
    'refuses the prefix %j',
    (prefix) => {
      expect(() => accessPatterns('read', prefix)).toThrow(InvalidPrefixError);
    },
  );
});

describe('matchesPattern', () => {
  it('matches literal characters exactly, case-sensitively', () => {
    expect(matchesPattern('GET/counters', 'GET/counters')).toBe(true);
    expect(matchesPattern('GET/counters', 'GET/counters/')).toBe(false);
    expect(matchesPattern('GET/counters', 'get/counters')).toBe(false);
    expect(matchesPattern('GET/counters/a.b', 'GET/counters/aXb')).toBe(false);
  });

  it('lets * match any run of characters, across slashes and empty', () => {
    expect(matchesPattern('GET/counters/*', 'GET/counters/a/history')).toBe(true);
    expect(matchesPattern('GET/counters/*', 'GET/counters/')).toBe(true);
    expect(matchesPattern('*', '')).toBe(true);
    expect(matchesPattern('*', 'DELETE/counters/x')).toBe(true);
    expect(matchesPattern('a*b*c', 'axxbyybzc')).toBe(true);
    expect(matchesPattern('a*b*c', 'axxcyyb')).toBe(false);
  });

  it('lets ? match exactly one character', () => {
    expect(matchesPattern('GET/counters/?', 'GET/counters/a')).toBe(true);
    expect(matchesPattern('GET/counters/?', 'GET/counters/')).toBe(false);
    expect(matchesPattern('GET/counters/?', 'GET/counters/ab')).toBe(false);
  });

  it('keeps a prefix grant off the listing and other counters', () => {
    expect(matchesPattern('GET/counters/shop.*', 'GET/counters')).toBe(false);
    expect(matchesPattern('GET/counters/shop.*', 'GET/counters/')).toBe(false);
    expect(matchesPattern('GET/counters/shop.*', 'GET/counters/shopx')).toBe(false);
    expect(matchesPattern('GET/counters/shop.*', 'GET/counters/shop.')).toBe(true);
    expect(matchesPattern('GET/counters/shop.*', 'GET/counters/shop.a/history')).toBe(true);
    expect(matchesPattern('GET/counters/shop.*', 'POST/counters/shop.a')).toBe(false);
  });

  it('agrees with a regular-expression reading of IAM globs', () => {
    const reference = (pattern: string, value: string) =>
      new RegExp(
        `^${[...pattern].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))).join('')}$`,
        's',
      ).test(value);
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom('a', 'b', '/', '.', '*', '?'), maxLength: 12 }),
        fc.string({ unit: fc.constantFrom('a', 'b', '/', '.'), maxLength: 14 }),
        (pattern, value) => matchesPattern(pattern, value) === reference(pattern, value),
      ),
      { numRuns: 2000 },
    );
  });
});

describe('grants and routes together', () => {
  /** A concrete request for the route, addressing the given counter where the path has {name}. */
  const request = (path: string, name: string) => path.replace('{name}', name);

  it('allow each route exactly to the levels that include its access', () => {
    for (const level of LEVELS) {
      const patterns = accessPatterns(level);
      for (const route of ROUTES) {
        const path = request(route.path, 'any.counter');
        expect(isAllowed(patterns, route.method, path), `${level} ${route.method} ${path}`).toBe(
          accessIncludes(level, route.access),
        );
      }
    }
  });

  it('allow a prefix grant exactly the routes of counters whose names start with it', () => {
    for (const level of LEVELS) {
      const patterns = accessPatterns(level, 'shop.');
      for (const route of ROUTES) {
        for (const name of ['shop.a', 'shop.', 'shopa', 'other', 'shop']) {
          const path = request(route.path, name);
          const addressed = route.path.includes('{name}')
            ? name
            : route.path === '/counters'
              ? undefined
              : 'default';
          const expected = accessIncludes(level, route.access) && addressed?.startsWith('shop.') === true;
          expect(isAllowed(patterns, route.method, path), `${level} ${route.method} ${path}`).toBe(expected);
        }
      }
    }
  });

  it('never lets write include read, nor read include any change', () => {
    for (const route of ROUTES) {
      const path = request(route.path, 'x');
      if (route.method === 'GET') expect(isAllowed(accessPatterns('write'), route.method, path)).toBe(false);
      else expect(isAllowed(accessPatterns('read'), route.method, path)).toBe(false);
    }
  });
});
