import type * as z from 'zod/mini';
import { BadRequestError, PayloadTooLargeError } from './problems.ts';
import { describeIssues } from './validation.ts';

export const MAX_BODY_BYTES = 16 * 1024;

const INTEGER_LITERAL = /^-?(0|[1-9][0-9]*)$/;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

interface ReviverContext {
  source?: string;
}

// Without the source text (Node.js 22+, as on Lambda), `1e3` and `1.0` would pass as integers: refuse
// to start rather than accept them.
if (
  JSON.parse('1.0', (_key: string, value: unknown, context?: ReviverContext) => context?.source ?? value) !==
  '1.0'
) {
  throw new Error('Node.js 22 or later is required: JSON.parse must expose number source text.');
}

/**
 * Parses a JSON body strictly: numbers must be written as integers within the exactly representable
 * range. `JSON.parse` alone would accept `1e3` or `1.0` as integers and silently round
 * `9007199254740993`, so the reviver checks each number's source text (Node.js 22).
 */
export function parseJsonBody<T>(
  body: string | undefined,
  isBase64Encoded: boolean,
  schema: z.ZodMiniType<T>,
): T | undefined {
  if (body === undefined || body === '') return undefined;
  const text = isBase64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body;
  if (Buffer.byteLength(text, 'utf8') > MAX_BODY_BYTES) throw new PayloadTooLargeError(MAX_BODY_BYTES);
  if (text.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text, (key: string, value: unknown, context?: ReviverContext) => {
      if (typeof value === 'number') checkInteger(key, value, context?.source);
      return value;
    });
  } catch (error) {
    if (error instanceof BadRequestError) throw error;
    throw new BadRequestError('The request body is not valid JSON.');
  }
  // JSON.parse keeps the last of two equal keys, so {"by":1,"by":1000} would add 1000: an ambiguous
  // body is refused rather than read one way when its sender may have meant the other.
  const duplicate = duplicateKey(text);
  if (duplicate !== undefined) {
    throw new BadRequestError(
      `The request body has the field ${JSON.stringify(duplicate.slice(0, 40))} more than once; send each field once.`,
    );
  }
  const result = schema.safeParse(parsed);
  if (!result.success) throw new BadRequestError(describeIssues('body', result.error));
  return result.data;
}

function checkInteger(key: string, value: number, source: string | undefined): void {
  const written = source ?? String(value);
  const field = key === '' ? 'the body' : `"${key}"`;
  if (!INTEGER_LITERAL.test(written)) {
    throw new BadRequestError(
      `${field} must be a whole number written without a fraction or exponent; got ${written}.`,
    );
  }
  const exact = BigInt(written);
  if (exact > MAX_SAFE || exact < -MAX_SAFE) {
    throw new BadRequestError(
      `${field} must be between -9007199254740991 and 9007199254740991; got ${written}.`,
    );
  }
}

/**
 * The first key that appears twice in one object of `text`, which must be valid JSON (it has just
 * parsed), or undefined. Keys compare as JSON.parse reads them, so "b\u0079" and "by" are one key.
 */
export function duplicateKey(text: string): string | undefined {
  // One entry per open object (its keys so far) or array (null), innermost last.
  const open: (Set<string> | null)[] = [];
  let expectingKey = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      const keys = open.at(-1);
      if (expectingKey && keys instanceof Set) {
        const key = String(JSON.parse(text.slice(start, i + 1)));
        if (keys.has(key)) return key;
        keys.add(key);
      }
      expectingKey = false;
    } else if (char === '{') {
      open.push(new Set());
      expectingKey = true;
    } else if (char === '[') {
      open.push(null);
    } else if (char === '}' || char === ']') {
      open.pop();
    } else if (char === ',') {
      expectingKey = open.at(-1) instanceof Set;
    }
  }
  return undefined;
}
