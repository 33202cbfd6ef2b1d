import fc from 'fast-check';
import { MAX_VALUE } from '../../functions/counter/schema.ts';

// fast-check arbitraries for the number literals a caller may send, shared by the property tests of
// parseJsonBody (test/unit/json-body.test.ts) and of the change handlers (test/unit/http-handlers.test.ts).

export const MAX = BigInt(MAX_VALUE);

/** Integers in and well beyond the exact range, with the edges of the range well represented. */
export const anyBigInt = fc.oneof(
  fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }),
  fc.bigInt({ min: MAX - 1000n, max: MAX + 1000n }),
  fc.bigInt({ min: -MAX - 1000n, max: -MAX + 1000n }),
  fc.bigInt({ min: -1000n, max: 1000n }),
);

/** Number literals that are valid JSON but not written as integers: fractions and exponents. */
export const nonIntegerLiteral = fc
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
