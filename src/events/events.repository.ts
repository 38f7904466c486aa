import { Injectable } from '@nestjs/common';
import { ReadRouter } from '../database/replicas';
import { EVENT_COLUMNS, type EventRow } from './event.record';

/**
 * Reads of the outbox: only numbered events, in number order (never an event committed but not yet numbered).
 * They run where the ReadRouter sends them: a streaming replica that has replayed the reader's last write,
 * else the primary.
 */
@Injectable()
export class EventsRepository {
  constructor(private readonly reads: ReadRouter) {}

  /**
   * Up to `limit` events after `after`: all of them (`userId` null) or those touching one user. `readerId`:
   * who asks (read-your-writes).
   */
  page(userId: string | null, after: string, limit: number, readerId: string): Promise<EventRow[]> {
    return userId === null
      ? this.reads.query<EventRow>(
          readerId,
          `SELECT ${EVENT_COLUMNS} FROM numbered_events e WHERE e.sequence > $1::bigint ORDER BY e.sequence LIMIT $2`,
          [after, limit],
        )
      : this.reads.query<EventRow>(
          readerId,
          `SELECT ${EVENT_COLUMNS} FROM numbered_events e
            WHERE e.user_ids @> ARRAY[$3::uuid] AND e.sequence > $1::bigint ORDER BY e.sequence LIMIT $2`,
          [after, limit, userId],
        );
  }
}
