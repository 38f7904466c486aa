import { Injectable } from '@nestjs/common';
import type { AuthUser } from '../common/auth/auth-user';
import type { EventPageDto } from './dto/event.dto';
import { eventJson } from './event.record';
import { EventsRepository } from './events.repository';

export const EVENTS_PAGE_DEFAULT = 100;

@Injectable()
export class EventsService {
  constructor(private readonly events: EventsRepository) {}

  /** The caller's events (admins: all) after the cursor, oldest first; nextCursor null on the last page. */
  async page(caller: AuthUser, after = '0', limit = EVENTS_PAGE_DEFAULT): Promise<EventPageDto> {
    const rows = await this.events.page(
      caller.role === 'ADMIN' ? null : caller.id,
      after,
      limit + 1,
      caller.id,
    );
    const items = rows.slice(0, limit).map(eventJson);
    const nextCursor = rows.length > limit ? String(items[items.length - 1].sequence) : null;
    return { items, nextCursor };
  }
}
