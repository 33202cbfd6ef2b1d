import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import { counterRules } from '../../examples/change-events/rules.ts';
import { REPO_ROOT } from '../../lib/repo-root.ts';
import { synthStack } from './synth.ts';
import { at, resourcesOfType } from './template-helpers.ts';

// examples/change-events/rules.ts, the rules the README shows, on a counter stack with change events.
describe("the README's rules on change events", () => {
  const counters = synthStack({ changeEvents: true });
  // Added before the template is first read, so the rules are in it.
  counterRules(counters.stack, new Topic(counters.stack, 'Alerts'));
  const rules = resourcesOfType(counters.template, 'AWS::Events::Rule').map(([, rule]) =>
    at(rule, 'Properties', 'EventPattern'),
  );

  it('match the change that takes page-views from below 1000 to 1000 or more, by numeric matching', () => {
    expect(rules).toContainEqual({
      source: ['counter-service'],
      'detail-type': ['Counter Changed'],
      detail: {
        name: ['page-views'],
        previous_value: [{ numeric: ['<', 1000] }],
        value: [{ numeric: ['>=', 1000] }],
      },
    });
  });

  it('match a bounded stock.* counter falling to 5 or below', () => {
    expect(rules).toContainEqual({
      source: ['counter-service'],
      'detail-type': ['Counter Changed'],
      detail: {
        name: [{ prefix: 'stock.' }],
        min: [{ exists: true }],
        previous_value: [{ numeric: ['>', 5] }],
        value: [{ numeric: ['<=', 5] }],
      },
    });
  });

  it('are the ones the README shows, word for word', () => {
    const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    const example = readFileSync(path.join(REPO_ROOT, 'examples/change-events/rules.ts'), 'utf8');
    const inReadme = rulesIn(readme);
    expect(inReadme).toHaveLength(2);
    expect(inReadme).toEqual(rulesIn(example));
  });
});

/** Each `new Rule(...)` statement with the comment above it, whitespace and `const x =` left out. */
function rulesIn(text: string): string[] {
  return [...text.matchAll(/\/\/[^\n]*\n\s*(?:const \w+ = )?new Rule\([\s\S]*?\n\s*\}\);/g)].map(([rule]) =>
    rule.replace(/const \w+ = /, '').replace(/\s+/g, ' '),
  );
}
