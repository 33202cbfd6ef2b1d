/**
 * Set by CounterFunction (lib/constructs/node-function.ts) on a function that X-Ray traces, to its
 * tracing mode; read by functions/platform/tracing.ts. Lambda's own variables cannot tell: it sets
 * AWS_XRAY_DAEMON_ADDRESS and _X_AMZN_TRACE_ID on untraced functions too. A module of its own so the
 * CDK app reads the name without loading the SDK.
 */
export const TRACING_VARIABLE = 'COUNTER_TRACING';
