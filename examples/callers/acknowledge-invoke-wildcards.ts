import { Stack, Validations } from 'aws-cdk-lib';
// cdk-nag's own rendering of a resource in a finding's id, so the acknowledgment names exactly what the
// AwsSolutions-IAM5 rule reports.
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges, with the reason, cdk-nag's AwsSolutions-IAM5 finding on each of these resources (those
 * of a grant of `execute-api:Invoke`) in the role's policies. Any other wildcard on the role, in an
 * action or in another resource, is still reported.
 *
 * A finding names the resource as synthesized, with the cross-stack import of the API's id, which exists
 * only once CDK has resolved the references between stacks. So the acknowledgments are made when the
 * construct tree is validated: after that, and before the cdk-nag packs run.
 */
export function acknowledgeInvokeWildcards(
  role: IConstruct,
  resources: readonly string[],
  reason: string,
): void {
  role.node.addValidation({
    validate: () => {
      for (const resource of resources) {
        const flattened = flattenCfnReference(Stack.of(role).resolve(resource));
        if (flattened.includes('*')) {
          Validations.of(role).acknowledge({ id: `AwsSolutions-IAM5[Resource::${flattened}]`, reason });
        }
      }
      return [];
    },
  });
}
