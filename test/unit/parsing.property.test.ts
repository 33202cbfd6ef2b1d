import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { MAX_VALUE } from '../../functions/counter/schema.ts';
import { parseJsonBody } from '../../functions/http/json-body.ts';
import { BadRequestError } from '../../functions/http/problems.ts';
import { counterItem } from '../support/counter-items.ts';
import { expectProblem, type Handlers, invoke, loadHandlers } from '../support/http-handlers.ts';

const ddbMock = mockClient(DynamoDBDocumentClient);
let handlers: Handlers;

beforeAll(async () => {
  handlers = await loadHandlers();
});

afterAll(() => {
  vi.unstubAllEnvs();
});

const MAX = BigInt(MAX_VALUE);

/** Integers in and well beyond the exact range, with the edges of the range well represented. */
const anyBigInt = fc.oneof(
  fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }),
  fc.bigInt({ min: MAX - 1000n, max: MAX + 1000n }),
  fc.bigInt({ min: -MAX - 1000n, max: -MAX + 1000n }),
  fc.bigInt({ min: -1000n, max: 1000n }),
);

/** Number literals that are valid JSON but not written as integers: fractions and exponents. */
const nonIntegerLiteral = fc
  .tuple(
    anyBigInt,
    fc.option(fc.stringMatching(/^[0-9]{1,6}$/), { nil: undefined }),
    fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), fc.nat(30)), {
      nil: undefined,
    }),
  )
  .filter(([, fraction, exponent]) => fraction !== undefined || exponent !== undefined)
  .map(([whole, fraction, exponent]) => {
    const fractionText = fraction === undefined ? '' : `.${fraction}`;
    const exponentText = exponent === undefined ? '' : `${exponent[0]}${exponent[1]}${exponent[2]}`;
    return `${whole}${fractionText}${exponentText}`;
  });

/** Anything a caller might send as a body: text, JSON, and near-misses of the expected shapes. */
function bodies(field: 'by' | 'value'): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.maxSafeInteger().map((n) => JSON.stringify({ [field]: n })) },
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.json({ maxDepth: 4 }),
    fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify({ [field]: value })),
    fc.oneof(anyBigInt.map(String), nonIntegerLiteral).map((literal) => `{"${field}": ${literal}}`),
    fc
      .dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 })
      .map((extra) => JSON.stringify({ [field]: 1, ...extra })),
  );
}

/** Mostly no If-Match, sometimes a well-formed one, sometimes anything. */
const ifMatchHeaders = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.nat().map((version) => `"${version}"`) },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
);

describe('any body to the change handlers', () => {
  for (const [route, field] of [
    ['increment', 'by'],
    ['set', 'value'],
  ] as const) {
    it(`never makes the ${route} handler answer 5xx, and every refusal is problem+json that changed nothing`, async () => {
      await fc.assert(
        fc.asyncProperty(bodies(field), ifMatchHeaders, async (body, ifMatch) => {
          // Prepare
          ddbMock.reset();
          ddbMock.on(UpdateCommand).resolves({ Attributes: counterItem({ value: 3, version: 2 }) });
          const handler = route === 'increment' ? handlers.increment : handlers.set;

          // Act
          const result = await invoke(handler, {
            routeKey: `${route === 'increment' ? 'POST' : 'PUT'} /counters/{name}`,
            path: '/counters/a',
            pathParameters: { name: 'a' },
            body,
            ...(ifMatch === undefined ? {} : { headers: { 'if-match': ifMatch } }),
          });

          // Assess
          const status = result.statusCode ?? 0;
          expect(status).toBeLessThan(500);
          if (status >= 400) {
            expectProblem(result, status);
            expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(0);
          } else {
            expect(status).toBe(200);
            expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(1);
          }
        }),
        { numRuns: 400 },
      );
    });
  }
});

describe('parseJsonBody numbers', () => {
  it('accepts an integer literal exactly when it lies within ±9007199254740991, keeping it exact', () => {
    fc.assert(
      fc.property(anyBigInt, (n) => {
        // Act
        const parse = () => parseJsonBody(String(n), false, z.unknown());

        // Assess
        if (n >= -MAX && n <= MAX) expect(parse()).toBe(Number(n));
        else expect(parse).toThrow(BadRequestError);
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects every number written with a fraction or an exponent, whatever its value', () => {
    fc.assert(
      fc.property(nonIntegerLiteral, (literal) => {
        // Act
        const parse = () => parseJsonBody(`{"by": ${literal}}`, false, z.unknown());

        // Assess
        expect(parse).toThrow(BadRequestError);
      }),
      { numRuns: 2000 },
    );
  });
});
