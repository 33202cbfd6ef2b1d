/** Thrown at cold start when the function's configuration is incomplete: a deploy bug, never a caller's. */
export class MissingEnvironmentError extends Error {
  constructor(name: string) {
    super(`environment variable ${name} is not set`);
    this.name = 'MissingEnvironmentError';
  }
}

/** Reads a required environment variable once, at cold start. */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new MissingEnvironmentError(name);
  return value;
}

/**
 * A required variable read when first asked for, then kept. For what only some functions are given
 * (a table's name goes only to the functions that may touch it), so a missing one fails where it is
 * used rather than at every cold start.
 */
export function requireEnvWhenUsed(name: string): () => string {
  let value: string | undefined;
  return () => {
    value ??= requireEnv(name);
    return value;
  };
}

/** Reads an optional environment variable; empty counts as absent. */
export function optionalEnv(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
}
