import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { Pool, QueryResultRow } from 'pg';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { Money } from '../common/money/money';
import { TX_JSON, txFromRow, type TxRecord, type TxRow } from './transaction.record';

/** A wallet as the engine reads it, with its owner's status. */
export interface WalletState {
  id: string;
  userId: string;
  currency: string;
  balance: Money;
  held: Money;
  version: number;
  userStatus: string;
}

export interface StoredResponse {
  hash: string;
  status: number;
  body: unknown;
}

/** The caller as the database has it now (not as the token or a cache says). */
export interface CallerState {
  status: string;
  role: string;
}

export interface EngineState {
  idempotency: StoredResponse | null;
  /** Null for the system (hold expiry) or a user that no longer exists. */
  caller: CallerState | null;
  wallets: WalletState[];
  transaction: TxRecord | null;
}

export interface StateQuery {
  /** Whose idempotency key to look up. */
  caller: string;
  key: string;
  /** Wallets to read: the one owned by this user, these ids, and the parties of this transaction. */
  ownerId?: string | null;
  walletIds?: string[];
  transactionId?: string | null;
}

/** One wallet change in a write: deltas applied under a version check. */
export interface WalletChange {
  id: string;
  version: number;
  balance: Money;
  held: Money;
  /** Refuse the write unless the wallet's owner is still ACTIVE (checked inside the write itself). */
  requireActive: boolean;
  /** The signed ledger amount, for changes of the settled balance. */
  ledger?: Money;
}

export interface WritePlan {
  wallets: WalletChange[];
  /** A new transaction row. */
  insert?: TxRecord;
  /** Settles a PENDING transaction (capture, void, expiry): applied only while it is still PENDING. */
  settle?: {
    id: string;
    status: 'COMPLETED' | 'FAILED';
    amount: Money;
    failureReason: string | null;
    at: Date;
  };
  /**
   * Users who must still be ACTIVE (and, for `admins`, ADMIN) when the write runs: the caller and every
   * party that must be active. Checked inside the statement, so a status change that committed before it
   * started is always seen, whatever any cache says.
   */
  actors?: { active: string[]; admins: string[] };
  /** The response to keep for the caller's Idempotency-Key, written with the movement or not at all. */
  idempotency?: { caller: string; key: string; hash: string; status: number; body: unknown };
  now: Date;
}

interface StateRow {
  idem: StoredResponse | null;
  caller: CallerState | null;
  wallets: Array<Omit<WalletState, 'balance' | 'held'> & { balance: string; held: string }> | null;
  tx: TxRow | null;
}

/**
 * The transfer engine's SQL. Each read is one round trip; each write is ONE statement, which PostgreSQL
 * runs as one transaction: wallets locked in id order, version-checked updates, the transaction row, its
 * ledger entries and the idempotency record all commit together, or nothing does. When any version
 * check (or the PENDING check of a settlement) fails, hfts_write_conflict() raises SQLSTATE 40001 and
 * the whole statement rolls back; the engine then retries.
 */
@Injectable()
export class MovementsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  transaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction('READ COMMITTED', work);
  }

  /** SQL text -> name of its prepared statement. A handful of shapes, so the map stays tiny. */
  private readonly statementNames = new Map<string, string>();

  /**
   * Runs one of the engine's statements. Outside a transaction they run as named prepared statements
   * straight on TypeORM's pg pool: PostgreSQL parses and plans each shape once per connection instead of
   * on every transfer (the write is a large CTE). Inside the locked path, through the transaction's manager.
   */
  private async run<T>(sql: string, params: unknown[], manager?: EntityManager): Promise<T[]> {
    if (manager) return manager.query<T[]>(sql, params);
    let name = this.statementNames.get(sql);
    if (!name) {
      name = `hfts_${createHash('sha1').update(sql).digest('hex').slice(0, 20)}`;
      this.statementNames.set(sql, name);
    }
    const pool = (this.dataSource.driver as PostgresDriver).master as Pool;
    const result = await pool.query<T & QueryResultRow>({ name, text: sql, values: params });
    return result.rows;
  }

  async readState(q: StateQuery, manager?: EntityManager): Promise<EngineState> {
    const rows = await this.run<StateRow>(
      `SELECT
        (SELECT json_build_object('hash', k.request_hash, 'status', k.status_code, 'body', k.response)
           FROM idempotency_keys k WHERE k.user_id = $1 AND k.key = $2) AS idem,
        (SELECT json_build_object('status', c.status, 'role', c.role) FROM users c WHERE c.id = $1) AS caller,
        (SELECT json_agg(json_build_object('id', w.id, 'userId', w.user_id, 'currency', w.currency,
                 'balance', w.balance::text, 'held', w.held::text, 'version', w.version, 'userStatus', u.status))
           FROM wallets w JOIN users u ON u.id = w.user_id
          WHERE w.id IN (SELECT o.id FROM wallets o WHERE o.user_id = $3
                         UNION SELECT unnest($4::uuid[])
                         UNION SELECT x.source_wallet_id FROM transactions x WHERE x.id = $5
                         UNION SELECT x.destination_wallet_id FROM transactions x WHERE x.id = $5)) AS wallets,
        (SELECT ${TX_JSON} FROM transactions t WHERE t.id = $5) AS tx`,
      [q.caller, q.key, q.ownerId ?? null, q.walletIds ?? [], q.transactionId ?? null],
      manager,
    );
    const row = rows[0];
    return {
      idempotency: row.idem,
      caller: row.caller,
      wallets: (row.wallets ?? []).map((w) => ({
        ...w,
        balance: Money.fromDb(w.balance),
        held: Money.fromDb(w.held),
      })),
      transaction: row.tx ? txFromRow(row.tx) : null,
    };
  }

  /**
   * Locks the wallets in ascending id order (the locked path: no deadlock between opposite transfers).
   * FOR NO KEY UPDATE, the lock an UPDATE of a wallet takes anyway: unlike FOR UPDATE it does not conflict
   * with the FOR KEY SHARE lock that a foreign-key check takes on a wallet a statement only references
   * (the receiver of a hold, the parties of a FAILED record), so those references never join a lock cycle.
   */
  async lockWallets(manager: EntityManager, ids: string[]): Promise<void> {
    await manager.query(`SELECT id FROM wallets WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE`, [
      ids,
    ]);
  }

  /** Runs a write plan as one statement. Throws SQLSTATE 40001 when a version or PENDING check fails. */
  async write(plan: WritePlan, manager?: EntityManager): Promise<void> {
    const p: unknown[] = [];
    const $ = (value: unknown, cast = ''): string => {
      p.push(value);
      return `$${p.length}${cast}`;
    };
    const now = $(plan.now, '::timestamptz');
    const ctes: string[] = [];
    const counts: string[] = [];
    const wallets = [...plan.wallets].sort((a, b) => (a.id < b.id ? -1 : 1));

    if (wallets.length > 0) {
      const values = wallets
        .map(
          (w) =>
            `(${$(w.id, '::uuid')}, ${$(w.version, '::int')}, ${$(w.balance.toFixed4(), '::numeric')}, ` +
            `${$(w.held.toFixed4(), '::numeric')}, ${$(w.requireActive, '::boolean')})`,
        )
        .join(', ');
      ctes.push(`v(id, version, dbal, dheld, active) AS (VALUES ${values})`);
      // Row locks in id order for the instant of this statement: opposite transfers cannot deadlock. NO KEY
      // UPDATE (see lockWallets): wallets this statement only references keep just a foreign key's KEY
      // SHARE lock, which no lock the engine takes conflicts with.
      ctes.push(
        `lk AS (SELECT w.id FROM wallets w WHERE w.id IN (SELECT id FROM v) ORDER BY w.id FOR NO KEY UPDATE)`,
      );
      ctes.push(`upd AS (
        UPDATE wallets w SET balance = w.balance + v.dbal, held = w.held + v.dheld, version = w.version + 1, updated_at = ${now}
          FROM v
         WHERE w.id = v.id AND w.id IN (SELECT id FROM lk) AND w.version = v.version
           AND (NOT v.active OR EXISTS (SELECT 1 FROM users u WHERE u.id = w.user_id AND u.status = 'ACTIVE'))
        RETURNING w.id, w.balance)`);
      counts.push('(SELECT count(*) FROM upd)');
    }
    if (plan.settle) {
      const s = plan.settle;
      ctes.push(`tu AS (
        UPDATE transactions SET status = ${$(s.status)}, amount = ${$(s.amount.toFixed4(), '::numeric')},
               failure_reason = ${$(s.failureReason)}, completed_at = ${$(s.at, '::timestamptz')}
         WHERE id = ${$(s.id, '::uuid')} AND status = 'PENDING'
        RETURNING id)`);
      counts.push('(SELECT count(*) FROM tu)');
    }
    const expected = wallets.length + (plan.settle ? 1 : 0);
    const conditions = [`${counts.length ? counts.join(' + ') : '0'} = ${$(expected, '::int')}`];
    const actors = plan.actors ?? { active: [], admins: [] };
    const mustBeActive = [...new Set([...actors.active, ...actors.admins])];
    if (mustBeActive.length > 0) {
      conditions.push(
        `(SELECT count(*) FROM users u WHERE u.id = ANY(${$(mustBeActive, '::uuid[]')}) AND u.status = 'ACTIVE'
            AND (u.role = 'ADMIN' OR NOT u.id = ANY(${$(actors.admins, '::uuid[]')}))) = ${$(mustBeActive.length, '::int')}`,
      );
    }
    ctes.push(
      `chk AS (SELECT CASE WHEN ${conditions.join(' AND ')} THEN true ELSE hfts_write_conflict() END AS ok)`,
    );
    if (plan.insert) {
      const t = plan.insert;
      ctes.push(`ti AS (
        INSERT INTO transactions (id, type, status, source_wallet_id, destination_wallet_id, amount, held_amount, currency,
                                  description, reference, failure_reason, initiated_by, hold_expires_at, created_at, completed_at)
        SELECT ${$(t.id, '::uuid')}, ${$(t.type)}, ${$(t.status)}, ${$(t.sourceWalletId, '::uuid')},
               ${$(t.destinationWalletId, '::uuid')}, ${$(t.amount.toFixed4(), '::numeric')},
               ${$(t.heldAmount?.toFixed4() ?? null, '::numeric')}, ${$(t.currency)}, ${$(t.description)}, ${$(t.reference)},
               ${$(t.failureReason)}, ${$(t.initiatedBy, '::uuid')}, ${$(t.holdExpiresAt, '::timestamptz')},
               ${$(t.createdAt, '::timestamptz')}, ${$(t.completedAt, '::timestamptz')}
          FROM chk WHERE chk.ok
        RETURNING id)`);
    }
    const ledger = wallets.filter((w) => w.ledger && !w.ledger.isZero());
    if (ledger.length > 0) {
      const txId = plan.insert?.id ?? plan.settle?.id;
      const entries = ledger
        .map((w) => `(${$(w.id, '::uuid')}, ${$(w.ledger?.toFixed4(), '::numeric')})`)
        .join(', ');
      ctes.push(`le AS (
        INSERT INTO ledger_entries (wallet_id, transaction_id, amount, balance_after, created_at)
        SELECT upd.id, ${$(txId, '::uuid')}, e.amount, upd.balance, ${now}
          FROM upd JOIN (VALUES ${entries}) e(wallet_id, amount) ON e.wallet_id = upd.id, chk
         WHERE chk.ok)`);
    }
    if (plan.idempotency) {
      const k = plan.idempotency;
      ctes.push(`ik AS (
        INSERT INTO idempotency_keys (user_id, key, request_hash, status_code, response, transaction_id, created_at)
        SELECT ${$(k.caller, '::uuid')}, ${$(k.key)}, ${$(k.hash)}, ${$(k.status, '::int')}, ${$(JSON.stringify(k.body), '::json')},
               ${$(plan.insert?.id ?? plan.settle?.id ?? null, '::uuid')}, ${now}
          FROM chk WHERE chk.ok)`);
    }
    await this.run(`WITH ${ctes.join(',\n')} SELECT ok FROM chk`, p, manager);
  }
}
