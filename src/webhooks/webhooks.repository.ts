import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface WebhookEndpointRow {
  id: string;
  url: string;
  event_types: string[] | null;
  created_at: Date;
}

export interface WebhookAttemptRow {
  event_id: string;
  attempt: number;
  status: 'SUCCEEDED' | 'FAILED';
  response_status: number | null;
  at: Date;
}

/** The endpoint columns that may leave the service: never the secret. */
const PUBLIC_COLUMNS = 'id, url, event_types, created_at';

/** The API's reads and writes of webhook endpoints and their delivery log, always scoped to their owner. */
@Injectable()
export class WebhooksRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Registers an endpoint unless the user already has `max`; null when they have. The count and the insert
   * run under a per-user advisory lock, so concurrent registrations cannot pass the limit together.
   */
  async create(
    userId: string,
    url: string,
    eventTypes: string[] | null,
    secret: string,
    max: number,
  ): Promise<WebhookEndpointRow | null> {
    const inserted = this.dataSource.transaction(async (m) => {
      await m.query(`SELECT pg_advisory_xact_lock(hashtext('hfts.webhooks.' || $1))`, [userId]);
      const rows = await m.query<WebhookEndpointRow[]>(
        `INSERT INTO webhook_endpoints (user_id, url, event_types, secret)
         SELECT $1, $2, $3, $4
          WHERE (SELECT count(*) FROM webhook_endpoints WHERE user_id = $1 AND deleted_at IS NULL) < $5
         RETURNING ${PUBLIC_COLUMNS}`,
        [userId, url, eventTypes, secret, max],
      );
      return rows[0] ?? null;
    });
    // A failed statement's error carries the secret twice: TypeORM's QueryFailedError keeps the parameters,
    // and PostgreSQL's DETAIL of a constraint violation shows the failing row. The error filter logs the
    // error it is given (a time-out, a lost connection, a bug), so the secret is taken out of it first.
    return inserted.catch((err: unknown) => {
      throw withoutSecret(err, secret);
    });
  }

  async listMine(userId: string): Promise<WebhookEndpointRow[]> {
    return await this.dataSource.query<WebhookEndpointRow[]>(
      `SELECT ${PUBLIC_COLUMNS} FROM webhook_endpoints WHERE user_id = $1 AND deleted_at IS NULL
        ORDER BY created_at, id`,
      [userId],
    );
  }

  /**
   * Deletes an endpoint of the user's: its secret is wiped and its pending jobs are cancelled in the same
   * transaction, so nothing is sent to it once this returns (a delivery already on the wire may still
   * arrive; its outcome is not recorded). False when the user has no such endpoint.
   */
  async deleteMine(userId: string, id: string): Promise<boolean> {
    return this.dataSource.transaction(async (m) => {
      const [, deleted] = await m.query<[unknown, number]>(
        `UPDATE webhook_endpoints SET deleted_at = now(), secret = NULL
          WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL`,
        [id, userId],
      );
      if (deleted === 0) return false;
      await m.query(
        `UPDATE webhook_deliveries SET state = 'CANCELLED', lease_until = NULL
          WHERE endpoint_id = $1 AND state = 'PENDING'`,
        [id],
      );
      return true;
    });
  }

  /** The latest attempts to an endpoint of the user's, newest first; null when there is no such endpoint. */
  async attemptsOfMine(userId: string, id: string, limit: number): Promise<WebhookAttemptRow[] | null> {
    const owned = await this.dataSource.query<unknown[]>(
      `SELECT 1 FROM webhook_endpoints WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL`,
      [id, userId],
    );
    if (owned.length === 0) return null;
    return await this.dataSource.query<WebhookAttemptRow[]>(
      `SELECT event_id, attempt, status, response_status, at FROM webhook_attempts
        WHERE endpoint_id = $1 ORDER BY id DESC LIMIT $2`,
      [id, limit],
    );
  }
}

/** The error with `secret` replaced in its string fields and its driver error's, and no parameters. */
function withoutSecret(err: unknown, secret: string): unknown {
  for (const e of [err, (err as { driverError?: unknown } | null)?.driverError]) {
    if (!e || typeof e !== 'object') continue;
    const fields = e as Record<string, unknown>;
    if ('parameters' in fields) fields.parameters = '[redacted]';
    for (const [key, value] of Object.entries(fields)) {
      if (typeof value === 'string' && value.includes(secret))
        fields[key] = value.split(secret).join('[redacted]');
    }
  }
  return err;
}
