import { CfnElement, Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { isRecord } from './synth.ts';

/** The CloudFormation logical id of an L2 construct's main resource. */
export function logicalIdOf(construct: IConstruct): string {
  const resource = construct.node.defaultChild;
  if (!(resource instanceof CfnElement))
    throw new Error(`${construct.node.path} has no CloudFormation resource`);
  return Stack.of(construct).getLogicalId(resource);
}

/** Reads `value.a.b...` (array items by index), or undefined where the path ends. */
export function at(value: unknown, ...keys: string[]): unknown {
  let current = value;
  for (const key of keys) {
    if (Array.isArray(current)) current = current[Number(key)];
    else current = isRecord(current) ? current[key] : undefined;
  }
  return current;
}

export function asArray(value: unknown): unknown[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

export function resourcesOfType(template: Template, type: string): [string, unknown][] {
  const found: Record<string, unknown> = template.findResources(type);
  return Object.entries(found);
}

export interface Statement {
  effect: string;
  actions: string[];
  resources: unknown[];
}

/** Every statement of every AWS::IAM::Policy attached to the role. */
export function statementsOfRole(template: Template, roleLogicalId: string): Statement[] {
  return resourcesOfType(template, 'AWS::IAM::Policy')
    .filter(([, policy]) =>
      asArray(at(policy, 'Properties', 'Roles')).some((role) => at(role, 'Ref') === roleLogicalId),
    )
    .flatMap(([, policy]) => asArray(at(policy, 'Properties', 'PolicyDocument', 'Statement')))
    .map((statement) => ({
      effect: String(at(statement, 'Effect')),
      actions: asArray(at(statement, 'Action')).map(String),
      resources: asArray(at(statement, 'Resource')),
    }));
}

/**
 * Renders a CloudFormation ARN expression to a string: pseudo-parameters and imports become
 * readable placeholders, so assertions can compare whole ARNs.
 */
export function renderArn(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = at(value, 'Fn::Join');
  if (Array.isArray(join)) {
    const [separator, parts] = join;
    return asArray(parts).map(renderArn).join(String(separator));
  }
  const ref = at(value, 'Ref');
  if (ref === 'AWS::Partition') return 'aws';
  if (typeof ref === 'string') return `<ref:${ref}>`;
  const imported = at(value, 'Fn::ImportValue');
  if (typeof imported === 'string') return `<import:${imported}>`;
  throw new Error(`Cannot render ${JSON.stringify(value)}`);
}
