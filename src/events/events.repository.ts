import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { EVENT_COLUMNS, type EventRow } from './event.record';

/** Reads of the outbox: only numbered events, in number order (never an event committed but not yet numbered). */
@Injectable()
export class EventsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Up to `limit` events after `after`: all of them (`userId` null) or those touching one user. */
  page(userId: string | null, after: string, limit: number): Promise<EventRow[]> {
    return userId === null
      ? this.dataSource.query(
          `SELECT ${EVENT_COLUMNS} FROM events e WHERE e.sequence > $1::bigint ORDER BY e.sequence LIMIT $2`,
          [after, limit],
        )
      : this.dataSource.query(
          `SELECT ${EVENT_COLUMNS} FROM events e
            WHERE e.user_ids @> ARRAY[$3::uuid] AND e.sequence > $1::bigint ORDER BY e.sequence LIMIT $2`,
          [after, limit, userId],
        );
  }
}
