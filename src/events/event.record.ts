import type { EventType } from './outbox';

/** A sequenced event as readers (the events API, the relays) get it from `events e`. */
export interface EventRow {
  id: string;
  type: EventType;
  sequence: string;
  created_at: Date;
  wallet_ids: string[];
  user_ids: string[];
  data: Record<string, unknown>;
}

/** The SELECT list giving an EventRow (sequence as text: a bigint never passes through a JS number unchecked). */
export const EVENT_COLUMNS = `e.id, e.type, e.sequence::text AS sequence, e.created_at, e.wallet_ids, e.user_ids, e.data`;

/** An event as the API, webhooks and NATS carry it (contract v1.1). */
export interface EventJson {
  id: string;
  type: EventType;
  sequence: number;
  createdAt: string;
  walletIds: string[];
  data: Record<string, unknown>;
}

export function eventJson(row: Omit<EventRow, 'user_ids'>): EventJson {
  return {
    id: row.id,
    type: row.type,
    sequence: Number(row.sequence),
    createdAt: new Date(row.created_at).toISOString(),
    walletIds: row.wallet_ids,
    data: row.data,
  };
}
