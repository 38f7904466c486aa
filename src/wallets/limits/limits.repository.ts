import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { Money } from '../../common/money/money';
import { eventInsert, eventInsertArrays, outboxEvent } from '../../events/outbox';
import { MonitorDto } from '../monitors/dto/monitor.dto';
import { conditionMet } from '../monitors/monitor-condition';
import { MonitorsRepository } from '../monitors/monitors.repository';
import { availableOf, lockWallet, type LockedWallet } from '../wallet-lock';
import { type LimitWindow, type Period, PERIODS, windowOf } from './limit-windows';

export interface LimitRow {
  window: LimitWindow;
  maxAmount: Money | null;
  maxCount: number | null;
  used: { amount: Money; count: number } | null;
}

export interface LimitsView {
  walletId: string;
  currency: string;
  overdraftLimit: Money;
  limits: LimitRow[];
}

/**
 * A wallet's limits and the usage of their current windows. Written only under the wallet's lock with
 * its version bumped (wallet-lock.ts), so the engine never checks a movement against a stale set. The
 * engine reads limits from the wallet's `rules`, which wallet_limits's triggers set in the same transaction
 * (migration 1765000000000).
 */
@Injectable()
export class LimitsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async walletIdOfUser(userId: string): Promise<string | undefined> {
    const rows = await this.dataSource.query<Array<{ id: string }>>(
      'SELECT id FROM wallets WHERE user_id = $1',
      [userId],
    );
    return rows[0]?.id;
  }

  async read(
    walletId: string,
    now: Date,
    m: EntityManager = this.dataSource.manager,
  ): Promise<LimitsView | undefined> {
    const wallets = await m.query<Array<{ currency: string; overdraft: string }>>(
      'SELECT currency, overdraft_limit::text AS overdraft FROM wallets WHERE id = $1',
      [walletId],
    );
    if (!wallets[0]) return undefined;
    const starts = PERIODS.map((p) => windowOf(p, now).start.toISOString());
    const rows = await m.query<
      Array<{
        window: LimitWindow;
        max_amount: string | null;
        max_count: number | null;
        amount: string | null;
        count: number | null;
      }>
    >(
      `SELECT l.period AS window, l.max_amount::text AS max_amount, l.max_count,
              COALESCE(k.amount, u.used_amount)::text AS amount, COALESCE(k.count, u.used_count) AS count
         FROM wallet_limits l
         JOIN wallets w ON w.id = l.wallet_id
         LEFT JOIN unnest($2::text[], $3::timestamptz[]) p(period, start) ON p.period = l.period
         LEFT JOIN LATERAL (
           SELECT x.amount, x.count
             FROM (VALUES ('DAILY', w.daily_start, w.daily_amount, w.daily_count),
                          ('WEEKLY', w.weekly_start, w.weekly_amount, w.weekly_count),
                          ('MONTHLY', w.monthly_start, w.monthly_amount, w.monthly_count)) x(period, start, amount, count)
            WHERE x.period = l.period AND x.start = p.start) k ON true
         LEFT JOIN wallet_limit_usage u ON u.wallet_id = l.wallet_id AND u.period = l.period AND u.period_start = p.start
        WHERE l.wallet_id = $1`,
      [walletId, PERIODS, starts],
    );
    return {
      walletId,
      currency: wallets[0].currency,
      overdraftLimit: Money.fromDb(wallets[0].overdraft),
      limits: rows.map((r) => ({
        window: r.window,
        maxAmount: r.max_amount === null ? null : Money.fromDb(r.max_amount),
        maxCount: r.max_count,
        used:
          r.window === 'PER_TRANSACTION'
            ? null
            : { amount: Money.fromDb(r.amount ?? '0'), count: r.count ?? 0 },
      })),
    };
  }

  /**
   * Replaces the set, under the wallet's lock: the windows that keep a limit get their current usage
   * recomputed from history (what the wallet spent in them, whenever the limit was set), the others lose
   * theirs. False when there is no such wallet.
   */
  replace(
    walletId: string,
    overdraftLimit: string | undefined,
    limits: Array<{ window: LimitWindow; maxAmount: string | null; maxCount: number | null }>,
    now: Date,
  ): Promise<LimitsView | undefined> {
    return this.dataSource.transaction('READ COMMITTED', async (m) => {
      const before = await m.query<Array<{ overdraft: string }>>(
        'SELECT overdraft_limit::text AS overdraft FROM wallets WHERE id = $1',
        [walletId],
      );
      const wallet = await lockWallet(m, { walletId }, overdraftLimit);
      if (!wallet || !before[0]) return undefined;
      await m.query('DELETE FROM wallet_limits WHERE wallet_id = $1', [walletId]);
      await m.query(
        `INSERT INTO wallet_limits (wallet_id, period, max_amount, max_count)
         SELECT $1, x.p, x.a, x.c FROM unnest($2::text[], $3::numeric[], $4::int[]) x(p, a, c)`,
        [
          walletId,
          limits.map((l) => l.window),
          limits.map((l) => l.maxAmount),
          limits.map((l) => l.maxCount),
        ],
      );
      const periods = PERIODS.filter((p) => limits.some((l) => l.window === p));
      await m.query('DELETE FROM wallet_limit_usage WHERE wallet_id = $1 AND NOT period = ANY($2::text[])', [
        walletId,
        periods,
      ]);
      for (const period of PERIODS) {
        if (periods.includes(period)) await this.recount(m, walletId, period, now);
        else {
          const c = period.toLowerCase();
          await m.query(
            `UPDATE wallets SET ${c}_start = NULL, ${c}_amount = NULL, ${c}_count = NULL WHERE id = $1`,
            [walletId],
          );
        }
      }
      if (!Money.fromDb(before[0].overdraft).eq(wallet.overdraftLimit)) await this.crossings(m, wallet);
      return this.read(walletId, now, m);
    });
  }

  /**
   * What counts in the period's current window, from the transactions (sends, withdrawals, holds less what
   * they gave back), kept on the wallet's row; a window the row kept that has ended is stored first. The
   * current window is the row's own when it is later than the clock's (another instance's clock ran ahead
   * at the turn), so a window is never counted again after a later one began.
   */
  private async recount(m: EntityManager, walletId: string, period: Period, now: Date): Promise<void> {
    const column = period.toLowerCase();
    const [row] = await m.query<Array<{ start: Date | null; amount: string | null; count: number | null }>>(
      `SELECT ${column}_start AS start, ${column}_amount::text AS amount, ${column}_count AS count
         FROM wallets WHERE id = $1`,
      [walletId],
    );
    const current = windowOf(period, now);
    const window = row.start && row.start > current.start ? windowOf(period, row.start) : current;
    if (row.start && row.start < window.start) {
      await m.query(
        `INSERT INTO wallet_limit_usage (wallet_id, period, period_start, used_amount, used_count)
         VALUES ($1, $2, $3, $4, $5)`,
        [walletId, period, row.start, row.amount, row.count],
      );
    }
    await m.query(
      `UPDATE wallets w SET ${column}_start = $2, ${column}_amount = c.amount, ${column}_count = c.count
         FROM (SELECT COALESCE(sum(t.amount), 0) AS amount, count(t.id) AS count FROM transactions t
                WHERE t.source_wallet_id = $1 AND t.type IN ('TRANSFER', 'WITHDRAWAL')
                  AND t.status IN ('COMPLETED', 'PENDING') AND t.created_at >= $2 AND t.created_at < $3) c
        WHERE w.id = $1`,
      [walletId, window.start, window.end],
    );
  }

  /** A new overdraft moves availableBalance: its monitors that flip get their events, as any change's would. */
  private async crossings(m: EntityManager, wallet: LockedWallet): Promise<void> {
    const monitors = await MonitorsRepository.ofWallet(m, wallet.id);
    const available = availableOf(wallet);
    const events = [];
    for (const monitor of monitors) {
      if (monitor.field !== 'availableBalance') continue;
      const met = conditionMet(available, monitor.operator, monitor.value);
      if (met === monitor.met) continue;
      const now = new Date();
      const after = { ...monitor, met, lastTriggeredAt: met ? now : monitor.lastTriggeredAt };
      await m.query('UPDATE wallet_monitors SET met = $2, last_triggered_at = $3 WHERE id = $1', [
        after.id,
        after.met,
        after.lastTriggeredAt,
      ]);
      events.push(
        outboxEvent(met ? 'monitor.triggered' : 'monitor.cleared', [wallet.id], [wallet.userId], {
          monitor: MonitorDto.from(after),
          wallet: {
            id: wallet.id,
            balance: wallet.balance.toFixed4(),
            availableBalance: available.toFixed4(),
          },
          transactionId: null,
        }),
      );
    }
    if (events.length > 0) await m.query(eventInsert(1, 'now()'), eventInsertArrays(events));
  }
}
