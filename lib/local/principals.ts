import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** A caller the local server knows: its keys, its ARN, and the `METHOD/path` patterns it may invoke. */
export interface LocalPrincipal {
  accessKeyId: string;
  secretAccessKey: string;
  arn: string;
  /** IAM-style patterns (`*` and `?` wildcards), as in `execute-api:Invoke` resources. */
  allow: string[];
}

export const LOCAL_ACCOUNT = '000000000000';

const principalsFile = z.array(
  z.strictObject({
    accessKeyId: z.string().min(1),
    secretAccessKey: z.string().min(1),
    arn: z.string().min(1),
    allow: z.array(z.string().min(1)),
  }),
);

/**
 * The server's own key is an admin (it may call everything); LOCAL_PRINCIPALS may name a JSON file
 * of further principals (docs/api.md section 2).
 */
export function loadPrincipals(env: NodeJS.ProcessEnv): Map<string, LocalPrincipal> {
  const admin: LocalPrincipal = {
    accessKeyId: env.AWS_ACCESS_KEY_ID ?? 'local',
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? 'local',
    arn: `arn:aws:iam::${LOCAL_ACCOUNT}:user/local-admin`,
    allow: ['*'],
  };
  const principals = new Map([[admin.accessKeyId, admin]]);
  const file = env.LOCAL_PRINCIPALS;
  if (file !== undefined && file !== '') {
    const parsed = principalsFile.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (!parsed.success)
      throw new Error(`LOCAL_PRINCIPALS (${file}) is not a list of principals: ${parsed.error.message}`);
    for (const principal of parsed.data) principals.set(principal.accessKeyId, principal);
  }
  return principals;
}
