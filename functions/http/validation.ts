import type * as z from 'zod/mini';

/** One sentence a caller can act on, naming each offending field. */
export function describeIssues(where: string, error: z.core.$ZodError): string {
  const parts = error.issues.map((issue) => {
    const path = issue.path.length === 0 ? where : `${where}.${issue.path.map(String).join('.')}`;
    if (issue.code === 'unrecognized_keys') {
      return `${path} has unknown field(s) ${issue.keys.map((key) => `"${key}"`).join(', ')}`;
    }
    return `${path} ${issue.message}`;
  });
  return `${parts.join('; ')}.`;
}
