import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { z } from 'zod';
import type { CallOptions, CallResult } from './signed-client.ts';

// openapi.json, read and compiled once per test process, and what a request or an answer does that it
// does not describe. The signed client checks every exchange of the integration suite with these.

const schemaObject = z.record(z.string(), z.unknown());
const media = z.object({ schema: schemaObject });
const parameter = z.object({
  name: z.string(),
  in: z.enum(['path', 'query', 'header', 'cookie']),
  required: z.boolean().optional(),
  schema: schemaObject,
});
const reference = z.object({ $ref: z.string() });
const header = z.object({ schema: schemaObject.optional() });
const operation = z.object({
  operationId: z.string(),
  parameters: z.array(z.union([reference, parameter])).optional(),
  requestBody: z
    .object({ required: z.boolean().optional(), content: z.record(z.string(), media) })
    .optional(),
  responses: z.record(
    z.string(),
    z.object({
      headers: z.record(z.string(), z.union([reference, header])).optional(),
      content: z.record(z.string(), media).optional(),
    }),
  ),
});
const openApi = z.object({
  openapi: z.string().startsWith('3.1'),
  paths: z.record(z.string(), z.record(z.string(), operation)),
  components: z.object({
    schemas: z.record(z.string(), schemaObject),
    parameters: z.record(z.string(), parameter).optional(),
    headers: z.record(z.string(), header).optional(),
  }),
});
export type Operation = z.infer<typeof operation>;

export const document = openApi.parse(
  JSON.parse(readFileSync(new URL('../../openapi.json', import.meta.url), 'utf8')),
);

/** `#/components/schemas/X` becomes `#/$defs/X`, so each schema carries the components it refers to. */
function rebase(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rebase);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [
      key,
      key === '$ref' && typeof inner === 'string'
        ? inner.replace('#/components/schemas/', '#/$defs/')
        : rebase(inner),
    ]),
  );
}

const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
// RFC 3339 date-time, as the schemas' `format` means it (ajv leaves formats to a plugin).
ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i);
const definitions = schemaObject.parse(rebase(document.components.schemas));
const validators = new Map<string, ValidateFunction>();

function validatorFor(schema: Record<string, unknown>): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = validators.get(key);
  if (validate === undefined) {
    validate = ajv.compile({ ...schemaObject.parse(rebase(schema)), $defs: definitions });
    validators.set(key, validate);
  }
  return validate;
}

function violations(schema: Record<string, unknown>, value: unknown, what: string): string[] {
  const validate = validatorFor(schema);
  if (validate(value)) return [];
  return (validate.errors ?? []).map(
    (error) => `${what}${error.instancePath} ${error.message ?? 'is invalid'} (${error.schemaPath})`,
  );
}

export function resolveParameter(entry: Operation['parameters'] extends (infer P)[] | undefined ? P : never) {
  if ('$ref' in entry) {
    const found = document.components.parameters?.[entry.$ref.replace('#/components/parameters/', '')];
    if (found === undefined) throw new Error(`unresolved ${entry.$ref}`);
    return found;
  }
  return entry;
}

/** A header or query value as the schema's type reads it: headers and queries are text on the wire. */
function typed(schema: Record<string, unknown>, text: string): unknown {
  return schema.type === 'integer' && /^-?\d+$/.test(text) ? Number(text) : text;
}

/** A value a schema accepts, for a required parameter no case sets. */
export function exampleOf(schema: Record<string, unknown>): string {
  const choices = z.array(z.union([z.string(), z.number()])).safeParse(schema.enum);
  if (choices.success && choices.data[0] !== undefined) return String(choices.data[0]);
  if (schema.default !== undefined) return String(schema.default);
  if (schema.format === 'date-time') return new Date().toISOString();
  if (schema.type === 'integer') return String(typeof schema.minimum === 'number' ? schema.minimum : 1);
  return 'x';
}

export function operationOf(key: string): Operation {
  const [method = '', template = ''] = key.split(' ');
  const found = document.paths[template]?.[method.toLowerCase()];
  if (found === undefined) throw new Error(`openapi.json has no operation ${key}`);
  return found;
}

/** What in the answer the document does not describe; empty when it conforms. */
export function answerViolations(key: string, answer: CallResult): string[] {
  const declared = operationOf(key).responses;
  const response =
    declared[String(answer.status)] ?? declared[`${String(answer.status)[0]}XX`] ?? declared.default;
  if (response === undefined) {
    return [
      `${key}: status ${answer.status} is not declared (declared: ${Object.keys(declared).join(', ')}); ` +
        `the server answered ${answer.headers.get('content-type') ?? 'no content type'} ${answer.text.slice(0, 300)}`,
    ];
  }
  const found: string[] = [];
  const contentType = (answer.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
  if (response.content === undefined) {
    if (answer.text !== '')
      found.push(`${key} ${answer.status}: declares no body, got ${answer.text.slice(0, 200)}`);
  } else {
    const mediaType = response.content[contentType];
    if (mediaType === undefined) {
      found.push(
        `${key} ${answer.status}: content type "${contentType}" is not declared ` +
          `(declared: ${Object.keys(response.content).join(', ')})`,
      );
    } else {
      found.push(...violations(mediaType.schema, answer.json, `${key} ${answer.status} body`));
    }
  }
  for (const [name, entry] of Object.entries(response.headers ?? {})) {
    const definition =
      '$ref' in entry
        ? document.components.headers?.[entry.$ref.replace('#/components/headers/', '')]
        : entry;
    const value = answer.headers.get(name);
    if (definition?.schema === undefined || value === null) continue;
    found.push(
      ...violations(
        definition.schema,
        typed(definition.schema, value),
        `${key} ${answer.status} header ${name}`,
      ),
    );
  }
  return found;
}

/** What in a request the API accepted the document would call invalid, or does not mention. */
export function requestViolations(key: string, path: string, options: CallOptions): string[] {
  const op = operationOf(key);
  const [, template = ''] = key.split(' ');
  const found: string[] = [];
  const url = new URL(path, 'http://localhost');
  const parameters = (op.parameters ?? []).map(resolveParameter);
  const templateNames = [...template.matchAll(/\{([^}]+)\}/g)].map((match) => match[1] ?? '');
  const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '([^/]+)')}$`);
  const values = pattern.exec(url.pathname)?.slice(1) ?? [];
  templateNames.forEach((name, index) => {
    const declared = parameters.find((p) => p.in === 'path' && p.name === name);
    if (declared === undefined) found.push(`${key}: path parameter ${name} is not declared`);
    else
      found.push(
        ...violations(declared.schema, decodeURIComponent(values[index] ?? ''), `${key} path ${name}`),
      );
  });
  for (const [name, value] of url.searchParams) {
    const declared = parameters.find((p) => p.in === 'query' && p.name === name);
    if (declared === undefined) found.push(`${key}: query parameter ${name} is not declared`);
    else found.push(...violations(declared.schema, typed(declared.schema, value), `${key} query ${name}`));
  }
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    const declared = parameters.find((p) => p.in === 'header' && p.name.toLowerCase() === name.toLowerCase());
    if (declared === undefined) found.push(`${key}: request header ${name} is not declared`);
    else found.push(...violations(declared.schema, typed(declared.schema, value), `${key} header ${name}`));
  }
  if (options.body !== undefined) {
    const schema = op.requestBody?.content['application/json']?.schema;
    if (schema === undefined) found.push(`${key}: declares no JSON request body`);
    else found.push(...violations(schema, options.body, `${key} request body`));
  } else if (options.rawBody === undefined && op.requestBody?.required === true) {
    found.push(`${key}: the request body is declared required, but the API accepted none`);
  }
  return found;
}

/** Headers of the transport, not of the API: never declared as parameters. */
const TRANSPORT_HEADERS = new Set([
  'content-type',
  'origin',
  'accept',
  'authorization',
  'host',
  'x-amz-date',
]);

/** `METHOD /template` of the operation a concrete request reaches, if any route matches it. */
export function operationKeyFor(method: string, path: string): string | undefined {
  const pathname = new URL(path, 'http://localhost').pathname;
  for (const [template, operations] of Object.entries(document.paths)) {
    const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
    if (pattern.test(pathname) && operations[method.toLowerCase()] !== undefined) {
      return `${method.toUpperCase()} ${template}`;
    }
  }
  return undefined;
}

/**
 * Every violation of openapi.json in one exchange: the answer always, the request when the API
 * accepted it (a refused request is allowed to be outside the document: that is why it was refused).
 */
export function exchangeViolations(
  method: string,
  path: string,
  options: CallOptions,
  answer: CallResult,
): string[] {
  const key = operationKeyFor(method, path);
  if (key === undefined) return [];
  const found = answerViolations(key, answer);
  if (answer.status < 300 && options.rawBody === undefined) {
    const headers = Object.fromEntries(
      Object.entries(options.headers ?? {}).filter(([name]) => !TRANSPORT_HEADERS.has(name.toLowerCase())),
    );
    found.push(...requestViolations(key, path, { ...options, headers }));
  }
  return found;
}
