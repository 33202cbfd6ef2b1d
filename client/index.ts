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
  SERIES_INTERVALS,
  type SeriesBucket,
  type SeriesInterval,
  type SeriesOptions,
  seriesBucketSchema,
} from './counter-client.ts';
export { credentialsFromEnv, defaultCredentials } from './credentials.ts';
export {
  CounterApiError,
  CounterCredentialsError,
  CounterNetworkError,
  UnexpectedAnswerError,
} from './errors.ts';
