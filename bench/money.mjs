// Money conserved: the invariant queries every test suite uses (scripts/lib/invariants-sql.cjs), and
// the service's own reconciliation endpoint, read after the load.
import { MONEY_INVARIANTS } from '../scripts/lib/invariants-sql.cjs';
import { ADMIN } from './service.mjs';

/** Each invariant with the number of rows breaking it, the totals, and the reconciliation's verdict. */
export async function checkMoney(q, base) {
  const broken = {};
  for (const { name, sql } of MONEY_INVARIANTS) {
    const rows = await q(sql);
    if (rows.length) broken[name] = rows.length;
  }
  const [totals] = await q(
    `SELECT (SELECT sum(balance) FROM wallets)::text AS balances,
            (SELECT COALESCE(sum(CASE type WHEN 'DEPOSIT' THEN amount ELSE -amount END), 0) FROM transactions
              WHERE status = 'COMPLETED' AND type IN ('DEPOSIT', 'WITHDRAWAL'))::text AS external`,
  );
  const login = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(ADMIN),
  }).then((r) => r.json());
  const reconciliation = await fetch(`${base}/api/v1/admin/reconciliation`, {
    headers: { authorization: `Bearer ${login.accessToken}` },
  }).then((r) => r.json());
  return {
    balances: totals.balances,
    depositsLessWithdrawals: totals.external,
    broken,
    reconciliationOk: reconciliation.ok === true,
    conserved: Object.keys(broken).length === 0 && reconciliation.ok === true,
  };
}
