import { describe, expect, it } from 'vitest';
import type { CounterStackProps } from '../../lib/counter-stack.ts';
import { synthStack } from './synth.ts';
import { at, logicalIdOf, resourcesOfType } from './template-helpers.ts';

// lib/constructs/counter-api.ts in the counter stack, template only: CORS and the access log group.
// (Routes, authorization and integrations as deployed: counter-stack.test.ts.)

// Templates only (no bundles): without bundling, each synthesis takes a second rather than ten.
const synth = (props: CounterStackProps = {}, id = 'CounterService') => synthStack(props, { id });

function corsConfiguration(props: CounterStackProps = {}): unknown {
  const apis = resourcesOfType(synthStack(props).template, 'AWS::ApiGatewayV2::Api');
  expect(apis).toHaveLength(1);
  return at(apis[0]?.[1], 'Properties', 'CorsConfiguration');
}

describe('CORS on the HTTP API', () => {
  it('is off by default: no CORS configuration, so API Gateway answers no preflight', () => {
    expect(corsConfiguration()).toBeUndefined();
  });

  it('is off for an empty allow-list', () => {
    expect(corsConfiguration({ corsAllowOrigins: [] })).toBeUndefined();
  });

  it('allows exactly the listed origins, the API methods, SigV4 headers and the exposed headers', () => {
    const cors = corsConfiguration({
      corsAllowOrigins: [
        'https://app.example.com',
        'https://admin.example.com:8443',
        'http://localhost:5173',
      ],
    });

    expect(cors).toEqual({
      AllowOrigins: ['https://app.example.com', 'https://admin.example.com:8443', 'http://localhost:5173'],
      AllowMethods: ['GET', 'POST', 'PUT', 'DELETE'],
      // Written out rather than read from lib/cors.ts: what a SigV4 browser client needs to send and read.
      AllowHeaders: [
        'authorization',
        'content-type',
        'x-amz-date',
        'x-amz-security-token',
        'x-amz-content-sha256',
        'idempotency-key',
        'if-match',
      ],
      ExposeHeaders: ['etag', 'link', 'idempotent-replayed', 'retry-after', 'x-request-id'],
      MaxAge: 3600,
    });
  });

  it('refuses "*", since the calls carry IAM credentials', () => {
    expect(() => corsConfiguration({ corsAllowOrigins: ['*'] })).toThrow(/wildcards are not allowed/);
  });

  it('refuses plain http for anything but localhost', () => {
    expect(() => corsConfiguration({ corsAllowOrigins: ['http://app.example.com'] })).toThrow(/use https/);
  });
});

describe('the API access log group', () => {
  it('is named under /aws/vendedlogs/, uniquely per stack, to stay out of the account-wide log resource policy', () => {
    const names = ['CounterService', 'CounterServiceStaging'].map((id) => {
      const { stack, template } = synth({}, id);
      return at(
        template.toJSON(),
        'Resources',
        logicalIdOf(stack.api.accessLogGroup),
        'Properties',
        'LogGroupName',
      );
    });
    expect(names[0]).toMatch(/^\/aws\/vendedlogs\/apigateway\/CounterService-Api-[0-9A-F]{8}-access$/);
    expect(names[1]).toMatch(/^\/aws\/vendedlogs\/apigateway\/CounterServiceStaging-Api-[0-9A-F]{8}-access$/);
  });
});
