import type { Construct } from 'constructs';
import { CounterStack } from '../../lib/counter-stack.ts';
import { CallersStack } from './callers-stack.ts';

export interface CallersExample {
  counters: CounterStack;
  callers: CallersStack;
}

/**
 * The counter service and, in a stack of their own, two AWS services that call it. Environment-agnostic,
 * as bin/counter.ts: both stacks go to the account and region of the credentials that deploy them.
 * Shared by app.ts and the infra test, so the test checks what deploys.
 */
export function buildCallersExample(scope: Construct): CallersExample {
  const counters = new CounterStack(scope, 'CounterService');
  const callers = new CallersStack(scope, 'CounterCallers', { counterApi: counters.api });
  return { counters, callers };
}
