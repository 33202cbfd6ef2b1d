import { type Access, ROUTES, type RouteSpec } from './routes.ts';

/**
 * Who may call what, as `execute-api:Invoke` resource patterns of the form `METHOD/path`. The stack's
 * grants append these to `arn:...:execute-api:region:account:apiId/<stage>/` and the local server
 * matches the same strings against `METHOD/path`, so a grant means the same thing in both places.
 */

/**
 * A prefix is a non-empty start of a counter name (contract §3) and must not contain IAM wildcards,
 * or `shop*` would quietly grant more than the counters it names.
 */
export const PREFIX_PATTERN = /^[A-Za-z0-9._:-]{1,127}$/;

/** The counter the seed's `/counter` routes address (contract §3). */
const SEED_COUNTER = 'default';
const NAME_PARAMETER = '{name}';

export class InvalidPrefixError extends Error {
  constructor(prefix: string) {
    super(
      `Invalid counter name prefix ${JSON.stringify(prefix)}: use 1 to 127 characters from A-Z a-z 0-9 . _ : - ` +
        '(no wildcards; the grant appends "*" itself).',
    );
    this.name = 'InvalidPrefixError';
  }
}

/** Whether an access level includes a route's: write includes increment, nothing includes more. */
export function accessIncludes(level: Access, routeAccess: Access): boolean {
  switch (level) {
    case 'read':
      return routeAccess === 'read';
    case 'increment':
      return routeAccess === 'increment';
    case 'write':
      return routeAccess === 'increment' || routeAccess === 'write';
  }
}

/** Throws InvalidPrefixError unless the prefix can be used in a grant. */
export function validatePrefix(prefix: string): string {
  if (!PREFIX_PATTERN.test(prefix)) throw new InvalidPrefixError(prefix);
  return prefix;
}

/**
 * The `METHOD/path` patterns an access level covers, e.g. `GET/counters/*` or, with the prefix
 * `shop.`, `POST/counters/shop.*`. With a prefix only routes that address one counter are granted:
 * `{name}` routes as `<prefix>*`, and the seed's `/counter` routes only if `default` starts with the
 * prefix. The list route is never part of a prefix grant, since it can show every counter.
 */
export function accessPatterns(access: Access, prefix?: string): string[] {
  if (prefix !== undefined) validatePrefix(prefix);
  const patterns = ROUTES.filter((route) => accessIncludes(access, route.access)).flatMap((route) => {
    const pattern = routePattern(route, prefix);
    return pattern === undefined ? [] : [pattern];
  });
  return [...new Set(patterns)];
}

function routePattern(route: RouteSpec, prefix: string | undefined): string | undefined {
  const addressesOne = route.path.includes(NAME_PARAMETER);
  if (prefix === undefined) return `${route.method}${route.path.replaceAll(NAME_PARAMETER, '*')}`;
  if (addressesOne) return `${route.method}${route.path.replaceAll(NAME_PARAMETER, `${prefix}*`)}`;
  if (isSeedRoute(route) && SEED_COUNTER.startsWith(prefix)) return `${route.method}${route.path}`;
  return undefined;
}

function isSeedRoute(route: RouteSpec): boolean {
  return route.path === '/counter' || route.path.startsWith('/counter/');
}

/**
 * IAM's glob match of a resource pattern: `*` matches any run of characters including `/`, `?` exactly
 * one, everything else itself (case-sensitive). A linear two-pointer match rather than a RegExp, so
 * no pattern can make matching slow.
 */
export function matchesPattern(pattern: string, methodAndPath: string): boolean {
  let p = 0;
  let s = 0;
  let starAt = -1;
  let resumeAt = 0;
  while (s < methodAndPath.length) {
    const token = pattern[p];
    if (token === '?' || (token !== undefined && token !== '*' && token === methodAndPath[s])) {
      p++;
      s++;
    } else if (token === '*') {
      starAt = p++;
      resumeAt = s;
    } else if (starAt !== -1) {
      p = starAt + 1;
      s = ++resumeAt;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

/** Whether any of the patterns allows `METHOD/path`. */
export function isAllowed(patterns: readonly string[], method: string, path: string): boolean {
  const methodAndPath = `${method}${path}`;
  return patterns.some((pattern) => matchesPattern(pattern, methodAndPath));
}
