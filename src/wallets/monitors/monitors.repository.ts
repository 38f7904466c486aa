import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { Money } from '../../common/money/money';
import { availableOf, lockWallet } from '../wallet-lock';
import type { MonitorLike } from './dto/monitor.dto';
import { conditionMet } from './monitor-condition';

/** At most this many monitors per wallet (contract v1.2). */
export const MAX_MONITORS = 10;

interface MonitorRow {
  id: string;
  wallet_id: string;
  field: MonitorLike['field'];
  operator: MonitorLike['operator'];
  value: string;
  description: string | null;
  met: boolean;
  created_at: Date;
  last_triggered_at: Date | null;
}

const COLUMNS = `id, wallet_id, field, operator, value::text, description, met, created_at, last_triggered_at`;

function monitorOf(r: MonitorRow): MonitorLike {
  return {
    id: r.id,
    walletId: r.wallet_id,
    field: r.field,
    operator: r.operator,
    value: Money.fromDb(r.value),
    description: r.description,
    met: r.met,
    createdAt: new Date(r.created_at),
    lastTriggeredAt: r.last_triggered_at === null ? null : new Date(r.last_triggered_at),
  };
}

/**
 * Balance monitors. Created and deleted under their wallet's lock with its version bumped, so `met` is
 * computed from the balance as it stands and no engine write decided without the monitor can commit. The
 * engine reads monitors from the wallet's `rules`, which this table's triggers set in the same transaction
 * (migration 1765000000000).
 */
@Injectable()
export class MonitorsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  static async ofWallet(m: EntityManager, walletId: string): Promise<MonitorLike[]> {
    const rows = await m.query<MonitorRow[]>(
      `SELECT ${COLUMNS} FROM wallet_monitors WHERE wallet_id = $1 ORDER BY created_at, id`,
      [walletId],
    );
    return rows.map(monitorOf);
  }

  /** The user's monitors, or undefined when they have no wallet. */
  async list(userId: string): Promise<MonitorLike[] | undefined> {
    const wallets = await this.dataSource.query<Array<{ id: string }>>(
      'SELECT id FROM wallets WHERE user_id = $1',
      [userId],
    );
    if (!wallets[0]) return undefined;
    return MonitorsRepository.ofWallet(this.dataSource.manager, wallets[0].id);
  }

  /** 'no-wallet', 'full' (already MAX_MONITORS), or the new monitor with `met` as the wallet stands. */
  create(
    userId: string,
    input: Pick<MonitorLike, 'field' | 'operator' | 'value' | 'description'>,
  ): Promise<MonitorLike | 'no-wallet' | 'full'> {
    return this.dataSource.transaction('READ COMMITTED', async (m) => {
      const wallet = await lockWallet(m, { userId });
      if (!wallet) return 'no-wallet';
      const [{ n }] = await m.query<Array<{ n: number }>>(
        'SELECT count(*)::int AS n FROM wallet_monitors WHERE wallet_id = $1',
        [wallet.id],
      );
      if (n >= MAX_MONITORS) return 'full';
      const current = input.field === 'balance' ? wallet.balance : availableOf(wallet);
      const met = conditionMet(current, input.operator, input.value);
      const rows = await m.query<MonitorRow[]>(
        `INSERT INTO wallet_monitors (id, wallet_id, field, operator, value, description, met)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${COLUMNS}`,
        [
          randomUUID(),
          wallet.id,
          input.field,
          input.operator,
          input.value.toFixed4(),
          input.description,
          met,
        ],
      );
      return monitorOf(rows[0]);
    });
  }

  /** Deletes the user's monitor; false when it is not theirs (or does not exist). */
  delete(userId: string, id: string): Promise<boolean> {
    return this.dataSource
      .transaction('READ COMMITTED', async (m) => {
        const wallet = await lockWallet(m, { userId });
        if (!wallet) return false;
        const [, deleted] = await m.query<[unknown, number]>(
          'DELETE FROM wallet_monitors WHERE id = $1 AND wallet_id = $2',
          [id, wallet.id],
        );
        // Nothing deleted: the transaction rolls back, so the version bump does not stay either.
        if (deleted === 0) throw new MonitorNotFound();
        return true;
      })
      .catch((err: unknown) => {
        if (err instanceof MonitorNotFound) return false;
        throw err;
      });
  }
}

class MonitorNotFound extends Error {}
