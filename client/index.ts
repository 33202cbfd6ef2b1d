export {
  type Change,
  type ChangeOptions,
  type ChangeResult,
  type Counter,
  CounterClient,
  type CounterClientOptions,
  counterSchema,
  type HistoryEntry,
  type HistoryOptions,
  historyEntrySchema,
  type ListOptions,
  type RawAnswer,
  type RetryOptions,
} from './counter-client.ts';
export { credentialsFromEnv, defaultCredentials } from './credentials.ts';
export {
  CounterApiError,
  CounterCredentialsError,
  CounterNetworkError,
  UnexpectedAnswerError,
} from './errors.ts';
