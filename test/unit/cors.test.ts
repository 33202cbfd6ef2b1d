import { describe, expect, it } from 'vitest';
import { InvalidCorsOriginError, validateCorsOrigins } from '../../lib/cors.ts';

describe('validateCorsOrigins', () => {
  it('accepts https origins with or without a port, and http only for localhost', () => {
    const origins = [
      'https://app.example.com',
      'https://10.0.0.1:8443',
      'http://localhost',
      'http://localhost:5173',
    ];

    expect(validateCorsOrigins(origins)).toEqual(origins);
  });

  it('drops repeated origins', () => {
    expect(validateCorsOrigins(['https://a.example.com', 'https://a.example.com'])).toEqual([
      'https://a.example.com',
    ]);
  });

  it.each([
    ['*', /wildcards are not allowed/],
    ['https://*.example.com', /wildcards are not allowed/],
    ['http://app.example.com', /use https/],
    ['http://127.0.0.1:3000', /use https/],
    ['ftp://app.example.com', /use https/],
    ['app.example.com', /expected https:\/\/host/],
    ['', /expected https:\/\/host/],
    ['https://app.example.com/', /as a browser sends it.*: https:\/\/app\.example\.com$/],
    ['https://app.example.com/page', /as a browser sends it/],
    ['https://App.Example.com', /as a browser sends it/],
    ['https://app.example.com:443', /as a browser sends it/],
    ['https://user@app.example.com', /as a browser sends it/],
    ['https://[::1]', /DNS name or an IPv4 address/],
    ['https://app_1.example.com', /DNS name or an IPv4 address/],
  ])('refuses %j with a reason', (origin, reason) => {
    expect(() => validateCorsOrigins([origin])).toThrow(InvalidCorsOriginError);
    expect(() => validateCorsOrigins([origin])).toThrow(reason);
  });
});
