import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  type ChangeEvent,
  type ChangePublisher,
  type PublishOutcome,
  toEventEntry,
} from '../../functions/counter/change-events.ts';

/**
 * The change events `npm start` would have published, as JSON Lines: each line one entry as PutEvents
 * would send it (Source, DetailType, Detail, EventBusName, Time), in the order the consumer publishes
 * them (docs/events.md). Stands in for EventBridge as the dead-letter file stands in for SQS.
 */
export class EventsFilePublisher implements ChangePublisher {
  constructor(
    private readonly file: string,
    private readonly eventBusName = 'default',
  ) {}

  async publish(events: readonly ChangeEvent[]): Promise<PublishOutcome> {
    if (events.length === 0) return {};
    const lines = events.map((event) => `${JSON.stringify(toEventEntry(event, this.eventBusName))}\n`);
    try {
      await mkdir(dirname(this.file), { recursive: true });
      // One append per batch, in the order given.
      await appendFile(this.file, lines.join(''));
      return {};
    } catch (error) {
      return { failedIndex: 0, error };
    }
  }
}
