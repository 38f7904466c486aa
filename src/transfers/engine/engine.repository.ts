import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { QueryResultRow } from 'pg';
import type { DataSource, EntityManager } from 'typeorm';
import { primaryPool, queryKeepingConnection } from '../../database/pools';
import { AppConfig } from '../../config/app-config';
import { OutboxSignal } from '../../events/outbox-signal';
import {
  constraintName,
  DEADLOCK_DETECTED,
  SERIALIZATION_FAILURE,
  sqlState,
  UNIQUE_VIOLATION,
} from '../../database/pg-errors';
import { txFromRow, type TxRow } from '../transaction.record';
import type {
  ConflictReason,
  EngineState,
  StateQuery,
  StoredResponse,
  WritePlan,
  WriteResult,
} from './engine.types';
import type { EngineStore, LockedSession } from './engine.port';
import { keyId } from '../idempotency';
import { lockStatement, readStatement, walletStateOf, type WalletRow } from './read-statement';
import { type Statement, writeStatement } from './write-statement';

interface StateRow {
  idem: Array<StoredResponse & { caller: string; key: string }> | null;
  users: Array<{ id: string; status: string; role: string }> | null;
  wallets: WalletRow[] | null;
  txs: TxRow[] | null;
}

const CHECKS: Record<string, ConflictReason> = { version: 'version', settled: 'settled', actor: 'actor' };

/**
 * The engine write's own conflict (SQLSTATE 40001, constraint hfts_write_conflict): which check failed and
 * the wallets that moved, from the error's DETAIL field (`version:<id>,<id>`), never from its message.
 */
export function writeConflictOf(err: unknown): { reason: ConflictReason; walletIds: string[] } | undefined {
  if (sqlState(err) !== SERIALIZATION_FAILURE || constraintName(err) !== 'hfts_write_conflict')
    return undefined;
  const e = err as { detail?: unknown; driverError?: { detail?: unknown } };
  const raw = e.driverError?.detail ?? e.detail;
  const detail = typeof raw === 'string' ? raw : '';
  const [check, ids = ''] = detail.split(':');
  return { reason: CHECKS[check] ?? 'version', walletIds: ids ? ids.split(',') : [] };
}

/** A conflict the database reported by raising: told apart by SQLSTATE and constraint name, never by text. */
export function conflictOf(err: unknown): ConflictReason | undefined {
  const code = sqlState(err);
  if (code === UNIQUE_VIOLATION && constraintName(err) === 'idempotency_keys_pkey') return 'duplicate';
  if (code === DEADLOCK_DETECTED) return 'deadlock';
  if (code === SERIALIZATION_FAILURE) return 'serialization';
  return undefined;
}

/**
 * Runs the engine's statements (built in write-statement.ts). Outside a transaction they run as named
 * prepared statements straight on TypeORM's pg pool: PostgreSQL parses and plans each shape once per
 * connection instead of on every movement. Inside the locked path, through the transaction's manager.
 *
 * Behind a transaction pooler (DB_POOLER=transaction) they run unnamed: a name is prepared on one server
 * connection, and pgbouncer 1.18 hands the next statement to another, which has never heard of it (or has
 * a different statement under that name, prepared for another client).
 */
@Injectable()
export class EngineRepository implements EngineStore {
  /** SQL text -> name of its prepared statement. Three shapes, so the map stays tiny. */
  private readonly statementNames = new Map<string, string>();
  private readonly named: boolean;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    config: AppConfig,
    private readonly outbox: OutboxSignal,
  ) {
    this.named = config.env.DB_POOLER !== 'transaction';
  }

  locked<T>(work: (session: LockedSession) => Promise<T>): Promise<T> {
    return this.dataSource.transaction('READ COMMITTED', (manager) =>
      work({
        readState: (q) => this.readState(q, manager),
        lockWallets: (ids) => this.lockWallets(manager, ids),
        write: (plan) => this.write(plan, manager),
      }),
    );
  }

  async readState(q: StateQuery, manager?: EntityManager): Promise<EngineState> {
    const [row] = await this.run<StateRow>(readStatement(q), manager);
    const state: EngineState = {
      wallets: new Map(),
      walletOfUser: new Map(),
      users: new Map(),
      transactions: new Map(),
      idempotency: new Map(),
    };
    for (const w of row.wallets ?? []) {
      state.wallets.set(w.id, walletStateOf(w));
      state.walletOfUser.set(w.userId, w.id);
    }
    for (const u of row.users ?? []) state.users.set(u.id, { status: u.status, role: u.role });
    for (const t of row.txs ?? []) state.transactions.set(t.id, txFromRow(t));
    for (const k of row.idem ?? []) {
      state.idempotency.set(keyId(k.caller, k.key), { hash: k.hash, status: k.status, body: k.body });
    }
    return state;
  }

  private async lockWallets(manager: EntityManager, ids: string[]): Promise<void> {
    await this.run(lockStatement(ids), manager);
  }

  /** Writes a plan in one statement: committed, or nothing written and which check failed. */
  async write(plan: WritePlan, manager?: EntityManager): Promise<WriteResult> {
    try {
      await this.run(writeStatement(plan), manager);
      if (plan.events.length > 0) this.outbox.written();
      return { kind: 'committed' };
    } catch (err) {
      const conflict = writeConflictOf(err) ?? { reason: conflictOf(err), walletIds: [] };
      if (!conflict.reason) throw err;
      return { kind: 'conflict', reason: conflict.reason, walletIds: conflict.walletIds };
    }
  }

  private async run<T>(statement: Statement, manager?: EntityManager): Promise<T[]> {
    if (manager) return manager.query<T[]>(statement.text, statement.values);
    const pool = primaryPool(this.dataSource);
    const result = await queryKeepingConnection<T & QueryResultRow>(pool, {
      name: this.named ? this.nameOf(statement.text) : undefined,
      text: statement.text,
      values: statement.values,
    });
    return result.rows;
  }

  private nameOf(text: string): string {
    let name = this.statementNames.get(text);
    if (!name) {
      name = `hfts_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
      this.statementNames.set(text, name);
    }
    return name;
  }
}
