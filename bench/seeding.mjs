// Seeding, straight in SQL (the API would take minutes for 10,000 users): users with one password,
// one USD wallet each funded by a COMPLETED deposit with its ledger entry (so the money invariants hold
// from the start), and a JWT per user signed with the service's secret. Also the numbered mapping
// table pgbench draws wallets from, and one long statement (a wallet of its own) for the history pages,
// the CSV export and the point-in-time balances.
import bcrypt from 'bcryptjs';
import jwt from 'jsonwebtoken';
import { SECRET } from './service.mjs';

export const PASSWORD = 'bench password 1';

/**
 * `count` users and wallets of `balance` USD each. Returns them numbered 1..count in wallet id order:
 * users[n - 1] is wallet n of bench_wallets(n int PRIMARY KEY, id uuid, user_id uuid), the table the
 * pgbench scripts map their random numbers to wallet ids with.
 */
export async function seedWallets(q, { count, balance }) {
  const hash = bcrypt.hashSync(PASSWORD, 10);
  await q(
    `INSERT INTO users (email, password_hash, full_name)
     SELECT 'bench' || g || '@example.com', $1, 'Bench ' || g FROM generate_series(1, $2) g`,
    [hash, count],
  );
  await q(
    `INSERT INTO wallets (user_id, currency, balance)
     SELECT id, 'USD', $1 FROM users WHERE email ~ '^bench[0-9]+@example[.]com$'`,
    [balance],
  );
  await q(
    `WITH d AS (INSERT INTO transactions (type, status, destination_wallet_id, amount, currency, completed_at)
                SELECT 'DEPOSIT', 'COMPLETED', w.id, w.balance, 'USD', now() FROM wallets w RETURNING id, destination_wallet_id, amount)
     INSERT INTO ledger_entries (wallet_id, transaction_id, amount, balance_after)
     SELECT destination_wallet_id, id, amount, amount FROM d`,
  );
  await q(`CREATE TABLE bench_wallets (n int PRIMARY KEY, id uuid NOT NULL, user_id uuid NOT NULL)`);
  await q(
    `INSERT INTO bench_wallets (n, id, user_id)
     SELECT row_number() OVER (ORDER BY w.id), w.id, w.user_id
       FROM wallets w JOIN users u ON u.id = w.user_id WHERE u.email ~ '^bench[0-9]+@example[.]com$'`,
  );
  await q('VACUUM ANALYZE users, wallets, transactions, ledger_entries, bench_wallets');
  const users = await q(
    `SELECT b.n, u.id, u.email, b.id AS wallet FROM bench_wallets b JOIN users u ON u.id = b.user_id ORDER BY b.n`,
  );
  for (const u of users) u.token = token(u);
  return users;
}

const token = (u) =>
  jwt.sign({ sub: u.id, email: u.email, role: 'USER' }, SECRET, {
    algorithm: 'HS256',
    issuer: 'hfts',
    audience: 'hfts-api',
    expiresIn: 4 * 3600,
  });

/** The service accepts the signed tokens and the seeded password (or the bench would measure 401s). */
export async function checkAccess(base, users) {
  const me = await fetch(`${base}/api/v1/wallets/me`, {
    headers: { authorization: `Bearer ${users[0].token}` },
  });
  if (!me.ok) throw new Error(`signed token refused: ${me.status}`);
  const login = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: users[1].email, password: PASSWORD }),
  });
  if (!login.ok) throw new Error(`login failed: ${login.status}`);
}

/**
 * The long statement the history pages, the CSV export and the point-in-time balances read: a wallet of
 * its own (user bench-statement@example.com, outside bench_wallets, so no transfer of the load touches it)
 * with `entries` COMPLETED deposits of 0.01, each with its ledger entry, one second apart and ending a
 * second before now, so that every depth has its own instant; entry k (1 = oldest) has balance_after
 * 0.01 * k, and the wallet's balance is the total. Vacuumed and analysed as months of autovacuum would have
 * left it. Returns the user (with a token and `wallet`), the count, and the seq range the cursors point into.
 */
export async function seedStatement(q, entries) {
  const [user] = await q(
    `INSERT INTO users (email, password_hash, full_name)
     VALUES ('bench-statement@example.com', $1, 'Bench statement') RETURNING id, email`,
    [bcrypt.hashSync(PASSWORD, 4)],
  );
  const [wallet] = await q(
    `INSERT INTO wallets (user_id, currency, balance) VALUES ($1, 'USD', $2::int * 0.01) RETURNING id`,
    [user.id, entries],
  );
  await q(
    `WITH d AS (INSERT INTO transactions (type, status, destination_wallet_id, amount, currency, created_at, completed_at)
                SELECT 'DEPOSIT', 'COMPLETED', $1, 0.01, 'USD', at, at
                  FROM (SELECT k, date_trunc('second', now()) - ($2::int - k + 1) * interval '1 second' AS at
                          FROM generate_series(1, $2::int) k) g
                 ORDER BY k
                RETURNING id, created_at)
     INSERT INTO ledger_entries (wallet_id, transaction_id, amount, balance_after, created_at)
     SELECT $1, id, 0.01, 0.01 * row_number() OVER (ORDER BY created_at), created_at FROM d ORDER BY created_at`,
    [wallet.id, entries],
  );
  await q('VACUUM ANALYZE users, wallets, transactions, ledger_entries');
  const [range] = await q(
    `SELECT min(seq)::text AS lo, max(seq)::text AS hi FROM transactions WHERE destination_wallet_id = $1`,
    [wallet.id],
  );
  const reader = { ...user, wallet: wallet.id, token: token(user) };
  return { reader, entries, range };
}
