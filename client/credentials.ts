import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { CounterCredentialsError } from './errors.ts';

export type CredentialsOption = AwsCredentialIdentity | AwsCredentialIdentityProvider;

/**
 * Keys meant for the counter service only, which take precedence over the AWS ones, so a script can
 * call a deployment with other credentials than the rest of its environment uses:
 * `COUNTER_ACCESS_KEY_ID`, `COUNTER_SECRET_ACCESS_KEY` and optionally `COUNTER_SESSION_TOKEN`.
 */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): AwsCredentialIdentity | undefined {
  const accessKeyId = env.COUNTER_ACCESS_KEY_ID;
  const secretAccessKey = env.COUNTER_SECRET_ACCESS_KEY;
  if (accessKeyId === undefined || accessKeyId === '') return undefined;
  if (secretAccessKey === undefined || secretAccessKey === '') {
    throw new CounterCredentialsError('COUNTER_ACCESS_KEY_ID is set but COUNTER_SECRET_ACCESS_KEY is not.');
  }
  const sessionToken = env.COUNTER_SESSION_TOKEN;
  return {
    accessKeyId,
    secretAccessKey,
    ...(sessionToken === undefined || sessionToken === '' ? {} : { sessionToken }),
  };
}

/**
 * The AWS SDK's default chain (environment, SSO, shared files, web identity, ECS/EC2 metadata), loaded
 * only when first needed: its import pulls in every provider, which a caller with explicit keys never
 * needs. The SDK memoizes the chain and refreshes credentials before they expire.
 */
export function defaultCredentials(): AwsCredentialIdentityProvider {
  let provider: Promise<AwsCredentialIdentityProvider> | undefined;
  return async () => {
    provider ??= import('@aws-sdk/credential-provider-node').then(({ defaultProvider }) => defaultProvider());
    try {
      return await (await provider)();
    } catch (error) {
      throw new CounterCredentialsError(
        `No AWS credentials to sign with: ${error instanceof Error ? error.message : String(error)} ` +
          '(set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or COUNTER_ACCESS_KEY_ID and ' +
          'COUNTER_SECRET_ACCESS_KEY; the local server takes local/local).',
        { cause: error },
      );
    }
  };
}
