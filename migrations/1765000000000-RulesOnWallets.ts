import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A wallet's spending limits and balance monitors, as the engine reads them, kept on the wallet's row
 * (`rules`, json: `[limits, monitors]`, NULL when it has neither), so that the engine's read gets them with
 * the balance instead of two subqueries per wallet (issue 24's cost). `wallet_limits` and `wallet_monitors`
 * stay the tables every other reader and writer uses; their triggers set `rules` from them at the end of
 * each statement that changes them, in the same transaction, whoever writes (the API, the engine's write
 * when a monitor crosses, SQL by hand). `hfts_wallet_rules(id)` is what `rules` must equal; the invariant
 * RULES_MATCH_TABLES (scripts/lib/invariants-sql.cjs) checks it after every test run.
 *
 * Measured with pgbench on the engine's read of 20 random wallets, each with a DAILY limit and a monitor
 * (127.0.0.1, 2 clients): 2,400-3,400 reads/s with the two subqueries, 4,100-5,800 with the column, 5,900-
 * 7,100 for the same read without limits or monitors at all.
 *
 * json, not jsonb: the read puts it into its own JSON as it is stored, with no conversion.
 */
export class RulesOnWallets1765000000000 implements MigrationInterface {
  name = 'RulesOnWallets1765000000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE wallets ADD COLUMN rules json`);
    // Limits as [window, maxAmount, maxCount]; monitors in creation order as [id, field, operator, value,
    // description, met, createdAt, lastTriggeredAt], the times in epoch milliseconds (what a JS Date holds).
    await q.query(`
      CREATE FUNCTION hfts_wallet_rules(wallet uuid) RETURNS json LANGUAGE sql STABLE AS $$
        SELECT CASE WHEN r.limits IS NULL AND r.monitors IS NULL THEN NULL ELSE json_build_array(r.limits, r.monitors) END
          FROM (SELECT
                  (SELECT json_agg(json_build_array(l.period, l.max_amount::text, l.max_count) ORDER BY l.period)
                     FROM wallet_limits l WHERE l.wallet_id = wallet) AS limits,
                  (SELECT json_agg(json_build_array(m.id, m.field, m.operator, m.value::text, m.description, m.met,
                                                    floor(extract(epoch FROM m.created_at) * 1000)::bigint,
                                                    floor(extract(epoch FROM m.last_triggered_at) * 1000)::bigint)
                                   ORDER BY m.created_at, m.id)
                     FROM wallet_monitors m WHERE m.wallet_id = wallet) AS monitors) r
      $$`);
    // The wallets are locked in id order (as the engine locks them) before their rules are set: a statement
    // changing the rules of several wallets does not deadlock with movements between them.
    await q.query(`
      CREATE FUNCTION wallets_rules_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          UPDATE wallets w SET rules = hfts_wallet_rules(w.id)
            FROM (SELECT x.id FROM wallets x WHERE x.id IN (SELECT wallet_id FROM new_rows)
                   ORDER BY x.id FOR NO KEY UPDATE) k
           WHERE w.id = k.id;
        ELSIF TG_OP = 'DELETE' THEN
          UPDATE wallets w SET rules = hfts_wallet_rules(w.id)
            FROM (SELECT x.id FROM wallets x WHERE x.id IN (SELECT wallet_id FROM old_rows)
                   ORDER BY x.id FOR NO KEY UPDATE) k
           WHERE w.id = k.id;
        ELSE
          UPDATE wallets w SET rules = hfts_wallet_rules(w.id)
            FROM (SELECT x.id FROM wallets x
                   WHERE x.id IN (SELECT wallet_id FROM new_rows UNION SELECT wallet_id FROM old_rows)
                   ORDER BY x.id FOR NO KEY UPDATE) k
           WHERE w.id = k.id;
        END IF;
        RETURN NULL;
      END $$`);
    for (const table of ['wallet_limits', 'wallet_monitors']) {
      await q.query(`
        CREATE TRIGGER ${table}_rules_insert AFTER INSERT ON ${table} REFERENCING NEW TABLE AS new_rows
          FOR EACH STATEMENT EXECUTE FUNCTION wallets_rules_refresh()`);
      await q.query(`
        CREATE TRIGGER ${table}_rules_update AFTER UPDATE ON ${table}
          REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
          FOR EACH STATEMENT EXECUTE FUNCTION wallets_rules_refresh()`);
      await q.query(`
        CREATE TRIGGER ${table}_rules_delete AFTER DELETE ON ${table} REFERENCING OLD TABLE AS old_rows
          FOR EACH STATEMENT EXECUTE FUNCTION wallets_rules_refresh()`);
    }
    await q.query(`
      UPDATE wallets w SET rules = hfts_wallet_rules(w.id)
       WHERE EXISTS (SELECT 1 FROM wallet_limits l WHERE l.wallet_id = w.id)
          OR EXISTS (SELECT 1 FROM wallet_monitors m WHERE m.wallet_id = w.id)`);
  }

  public async down(q: QueryRunner): Promise<void> {
    for (const table of ['wallet_limits', 'wallet_monitors']) {
      for (const op of ['insert', 'update', 'delete'])
        await q.query(`DROP TRIGGER ${table}_rules_${op} ON ${table}`);
    }
    await q.query('DROP FUNCTION wallets_rules_refresh()');
    await q.query('DROP FUNCTION hfts_wallet_rules(uuid)');
    await q.query('ALTER TABLE wallets DROP COLUMN rules');
  }
}
