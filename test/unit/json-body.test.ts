import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { incrementBody, setBody } from '../../functions/counter/schema.ts';
import { duplicateKey, MAX_BODY_BYTES, parseJsonBody } from '../../functions/http/json-body.ts';
import { BadRequestError, PayloadTooLargeError } from '../../functions/http/problems.ts';
import { anyBigInt, MAX, nonIntegerLiteral } from '../support/number-literals.ts';

const anyJson = z.unknown();

describe('parseJsonBody', () => {
  it.each([
    ['no body', undefined],
    ['an empty body', ''],
    ['a blank body', ' \n\t '],
  ])('returns undefined for %s', (_what, body) => {
    // Act
    const parsed = parseJsonBody(body, false, incrementBody);

    // Assess
    expect(parsed).toBeUndefined();
  });

  it.each([
    ['-1', -1],
    ['42', 42],
    ['9007199254740991', 9007199254740991],
    ['-9007199254740991', -9007199254740991],
  ])('accepts the integer literal %s', (literal, value) => {
    // Act
    const parsed = parseJsonBody(`{"by": ${literal}}`, false, incrementBody);

    // Assess
    expect(parsed).toEqual({ by: value });
  });

  it('accepts the integer literal 0 where 0 means something', () => {
    // Act
    const parsed = parseJsonBody('{"value": 0}', false, setBody);

    // Assess
    expect(parsed).toEqual({ value: 0 });
  });

  it.each(['0', '-0'])('refuses an increment by %s, which would change nothing', (literal) => {
    // Act
    const parse = () => parseJsonBody(`{"by": ${literal}}`, false, incrementBody);

    // Assess
    expect(parse).toThrow(
      new BadRequestError(
        'body.by must be a non-zero whole number (an increment by 0 would change nothing).',
      ),
    );
  });

  it.each([
    ['the same field twice', '{"by": 1, "by": 1000}', 'by'],
    ['the same field spelled with an escape', '{"by": 1, "b\\u0079": 2}', 'by'],
    ['a field twice inside a nested object', '{"value": 1, "x": [{"a": 1, "a": 2}]}', 'a'],
    ['the same field twice with equal values', '{"value": 5, "value": 5}', 'value'],
    ['an empty field name twice', '{"": 1, "": 2}', ''],
  ])('refuses a body with %s, naming the field', (_what, body, key) => {
    // Act
    const parse = () => parseJsonBody(body, false, anyJson);

    // Assess
    expect(parse).toThrow(
      new BadRequestError(
        `The request body has the field ${JSON.stringify(key)} more than once; send each field once.`,
      ),
    );
  });

  it.each([
    ['equal names in sibling objects', '{"a": {"x": 1}, "b": {"x": 2}}'],
    ['a value equal to a name', '{"a": "a", "b": ["a", "a"]}'],
    ['names containing quotes and brackets', '{"a\\"{": 1, "a\\"[": 2, "}": [1, {"a": 3}]}'],
    ['an array of objects with the same names', '[{"a": 1}, {"a": 2}]'],
  ])('accepts %s, which are no duplicates', (_what, body) => {
    // Act
    const parsed = parseJsonBody(body, false, anyJson);

    // Assess
    expect(parsed).toEqual(JSON.parse(body));
  });

  it.each([
    '1.5',
    '1.0',
    '1e3',
    '1E3',
    '1e-3',
    '-0.0',
    '10.00',
    '9007199254740992',
    '-9007199254740992',
    '9007199254740993',
    '123456789012345678901234567890',
  ])('rejects the number %s with a 400 naming the field', (literal) => {
    // Act
    const parse = () => parseJsonBody(`{"by": ${literal}}`, false, incrementBody);

    // Assess
    expect(parse).toThrow(BadRequestError);
    expect(parse).toThrow(/"by"/);
  });

  it('rejects a non-integer number even where the schema would not look', () => {
    // Act
    const parse = () => parseJsonBody('{"value": 1, "note": [1.5]}', false, anyJson);

    // Assess
    expect(parse).toThrow(BadRequestError);
  });

  it.each(['{"by": 1', '{by: 1}', "{'by': 1}", '{"by": 01}', '{"by": +1}', '{"by": NaN}', 'undefined'])(
    'rejects the malformed JSON %s as not valid JSON',
    (body) => {
      // Act
      const parse = () => parseJsonBody(body, false, incrementBody);

      // Assess
      expect(parse).toThrow(new BadRequestError('The request body is not valid JSON.'));
    },
  );

  it.each([
    ['a string for a number', '{"value": "10"}', /body\.value must be a whole number; got the string "10"/],
    ['null for a number', '{"value": null}', /body\.value must be a whole number; got null/],
    ['a missing field', '{}', /body\.value is required/],
    ['an unknown field', '{"value": 1, "by": 2}', /unknown field\(s\) "by"/],
    ['an inherited-looking field', '{"value": 1, "__proto__": {}}', /unknown field\(s\) "__proto__"/],
    ['an array', '[{"value": 1}]', /body must be a JSON object/],
  ])('rejects %s with a detail the caller can act on', (_what, body, detail) => {
    // Act
    const parse = () => parseJsonBody(body, false, setBody);

    // Assess
    expect(parse).toThrow(BadRequestError);
    expect(parse).toThrow(detail);
  });

  it('accepts a body of exactly the limit', () => {
    // Prepare
    const prefix = '{"value": 1, "p": "';
    const body = `${prefix}${'x'.repeat(MAX_BODY_BYTES - prefix.length - 2)}"}`;
    expect(Buffer.byteLength(body)).toBe(MAX_BODY_BYTES);

    // Act
    const parsed = parseJsonBody(body, false, anyJson);

    // Assess
    expect(parsed).toMatchObject({ value: 1 });
  });

  it('refuses a body one byte over the limit with PayloadTooLargeError', () => {
    // Prepare
    const prefix = '{"value": 1, "p": "';
    const body = `${prefix}${'x'.repeat(MAX_BODY_BYTES - prefix.length - 1)}"}`;

    // Act
    const parse = () => parseJsonBody(body, false, anyJson);

    // Assess
    expect(parse).toThrow(PayloadTooLargeError);
  });

  it('counts the limit in UTF-8 bytes, not characters', () => {
    // Prepare
    const body = `"${'é'.repeat(MAX_BODY_BYTES / 2)}"`;
    expect(body.length).toBeLessThan(MAX_BODY_BYTES);

    // Act
    const parse = () => parseJsonBody(body, false, anyJson);

    // Assess
    expect(parse).toThrow(PayloadTooLargeError);
  });

  it('decodes a base64-encoded body before parsing it', () => {
    // Prepare
    const body = Buffer.from('{"by": 12}', 'utf8').toString('base64');

    // Act
    const parsed = parseJsonBody(body, true, incrementBody);

    // Assess
    expect(parsed).toEqual({ by: 12 });
  });

  it('applies the size limit to the decoded base64 body', () => {
    // Prepare
    const body = Buffer.from(`"${'x'.repeat(MAX_BODY_BYTES)}"`, 'utf8').toString('base64');

    // Act
    const parse = () => parseJsonBody(body, true, anyJson);

    // Assess
    expect(parse).toThrow(PayloadTooLargeError);
  });
});

describe('duplicateKey', () => {
  it('finds no duplicate in any JSON that JSON.stringify writes', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        // Act
        const found = duplicateKey(JSON.stringify(value, null, 1));

        // Assess
        expect(found).toBeUndefined();
      }),
      { numRuns: 1000 },
    );
  });

  it('finds a key written twice in any object, however deep and whatever the keys hold', () => {
    const objectWithRepeat = fc
      .tuple(
        fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { minKeys: 1, maxKeys: 5 }),
        fc.jsonValue({ maxDepth: 2 }),
        fc.nat(3),
      )
      .map(([object, again, depth]) => {
        const key = Object.keys(object)[0] ?? '';
        let text = `${JSON.stringify(object).slice(0, -1)},${JSON.stringify(key)}:${JSON.stringify(again)}}`;
        for (let level = 0; level < depth; level++)
          text = level % 2 === 0 ? `[1,${text}]` : `{"n${level}":${text}}`;
        return { text, key };
      });
    fc.assert(
      fc.property(objectWithRepeat, ({ text, key }) => {
        // Act
        const found = duplicateKey(text);

        // Assess
        expect(found).toBe(key);
      }),
      { numRuns: 1000 },
    );
  });
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
