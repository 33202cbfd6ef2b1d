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

/** Reads an optional environment variable; empty counts as absent. */
export function optionalEnv(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
}
