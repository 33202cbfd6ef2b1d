import { Logger } from '@aws-lambda-powertools/logger';

/**
 * The service's one logger: every function (the HTTP routes and the stream consumer) logs through it,
 * so each line carries the same service name, and its level (POWERTOOLS_LOG_LEVEL) is read once, at
 * cold start.
 */
export const logger = new Logger({ serviceName: 'counter-service' });
