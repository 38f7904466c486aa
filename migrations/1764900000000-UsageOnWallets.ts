import type { MigrationInterface, QueryRunner } from 'typeorm';

const PERIODS = [
  ['daily', 'DAILY'],
  ['weekly', 'WEEKLY'],
  ['monthly', 'MONTHLY'],
] as const;

/**
 * Spending limits' usage of a wallet's latest window per period moves onto the wallet's own row
 * (`daily_start`, `daily_amount`, `daily_count`, and the same for weekly and monthly), where the engine's
 * read finds it with the balance and its write changes it in the same UPDATE: no usage row to probe, update
 * and log per movement (issue 24's cost). `wallet_limit_usage` keeps the windows that have ended, written
 * when a wallet's next window begins and when a hold gives back to the window it was created in.
 * `wallet_usage_windows` shows both, one row per kept window, as the table did.
 *
 * A window's three columns are all set or all NULL (no window kept for that period: no limit on it).
 */
export class UsageOnWallets1764900000000 implements MigrationInterface {
  name = 'UsageOnWallets1764900000000';

  public async up(q: QueryRunner): Promise<void> {
    for (const [p] of PERIODS) {
      await q.query(`
        ALTER TABLE wallets
          ADD COLUMN ${p}_start timestamptz,
          ADD COLUMN ${p}_amount numeric(18,4),
          ADD COLUMN ${p}_count integer,
          ADD CONSTRAINT wallets_${p}_usage_valid CHECK (
            (${p}_start IS NULL AND ${p}_amount IS NULL AND ${p}_count IS NULL)
            OR (${p}_start IS NOT NULL AND ${p}_amount >= 0 AND ${p}_amount <> 'NaN' AND ${p}_count >= 0))`);
    }
    // Each wallet's latest window per period moves to its row; the earlier ones stay in the table.
    for (const [p, period] of PERIODS) {
      await q.query(
        `WITH latest AS (
           DELETE FROM wallet_limit_usage u
            WHERE u.period = $1
              AND u.period_start = (SELECT max(x.period_start) FROM wallet_limit_usage x
                                     WHERE x.wallet_id = u.wallet_id AND x.period = u.period)
           RETURNING u.wallet_id, u.period_start, u.used_amount, u.used_count)
         UPDATE wallets w SET ${p}_start = l.period_start, ${p}_amount = l.used_amount, ${p}_count = l.used_count
           FROM latest l WHERE w.id = l.wallet_id`,
        [period],
      );
    }
    await q.query(`
      CREATE VIEW wallet_usage_windows AS
        SELECT wallet_id, period, period_start, used_amount, used_count FROM wallet_limit_usage
        UNION ALL
        SELECT w.id, x.period, x.period_start, x.used_amount, x.used_count
          FROM wallets w
         CROSS JOIN LATERAL (VALUES ('DAILY'::varchar(16), w.daily_start, w.daily_amount, w.daily_count),
                                    ('WEEKLY', w.weekly_start, w.weekly_amount, w.weekly_count),
                                    ('MONTHLY', w.monthly_start, w.monthly_amount, w.monthly_count))
               x(period, period_start, used_amount, used_count)
         WHERE x.period_start IS NOT NULL`);
    await q.query(`
      DO $$
      BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hfts_app') THEN
          GRANT SELECT ON wallet_usage_windows TO hfts_app;
        END IF;
      END $$`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query('DROP VIEW wallet_usage_windows');
    for (const [p, period] of PERIODS) {
      await q.query(
        `INSERT INTO wallet_limit_usage (wallet_id, period, period_start, used_amount, used_count)
         SELECT id, $1, ${p}_start, ${p}_amount, ${p}_count FROM wallets WHERE ${p}_start IS NOT NULL`,
        [period],
      );
      await q.query(`
        ALTER TABLE wallets
          DROP CONSTRAINT wallets_${p}_usage_valid,
          DROP COLUMN ${p}_start, DROP COLUMN ${p}_amount, DROP COLUMN ${p}_count`);
    }
  }
}
