// Who pays whom: one definition per wallet distribution, read by the HTTP load generators (samplePair)
// and written into pgbench scripts (pgbenchPair), so that the service and its plain-SQL yardstick draw
// their pairs the same way.
//
// Wallets are numbered 1..N in wallet id order (table bench_wallets, see seeding.mjs), so "the first k
// wallets" is a prefix and ordering by number is ordering by id. A pick draws from the first `hot` wallets
// with probability `hotPercent`/100, otherwise from the first `wallets`. The receiver's pool is drawn the
// same way, independently; when it contains the sender, the receiver is drawn from the pool less the
// sender (drawn from k-1, shifted past the sender), so sender and receiver always differ and nothing is
// redrawn. Single merchant: every wallet but the last pays the last.

/** A distribution over the first `wallets` wallets. */
export const distribution = (name, wallets, { hot = 0, hotPercent = 0, merchant = false } = {}) => ({
  name,
  wallets,
  hot,
  hotPercent,
  merchant,
});

const int = (lo, hi) => lo + Math.floor(Math.random() * (hi - lo + 1));
const pool = (d) => (d.hot && Math.random() * 100 < d.hotPercent ? d.hot : d.wallets);

/** [sender, receiver], 1-based wallet numbers. */
export function samplePair(d) {
  if (d.merchant) return [int(1, d.wallets - 1), d.wallets];
  const a = int(1, pool(d));
  const k = pool(d);
  if (a > k) return [a, int(1, k)];
  const b = int(1, k - 1);
  return [a, b >= a ? b + 1 : b];
}

/** A receiver for a given sender, as samplePair draws it (the batch API: one sender per request). */
export function sampleReceiver(d, a) {
  if (d.merchant) return d.wallets;
  const k = pool(d);
  if (a > k) return int(1, k);
  const b = int(1, k - 1);
  return b >= a ? b + 1 : b;
}

/** pgbench meta-commands setting :a<suffix> (sender) and :b<suffix> (receiver) as samplePair does. */
export function pgbenchPair(d, suffix = '') {
  const a = `a${suffix}`;
  const b = `b${suffix}`;
  const k = `k${suffix}`;
  if (d.merchant) return [`\\set ${a} random(1, ${d.wallets - 1})`, `\\set ${b} ${d.wallets}`];
  const pick = (hot, all) =>
    d.hot ? `CASE WHEN random(0, 99) < ${d.hotPercent} THEN ${hot} ELSE ${all} END` : all;
  return [
    `\\set ${a} ${pick(`random(1, ${d.hot})`, `random(1, ${d.wallets})`)}`,
    `\\set ${k} ${pick(d.hot, d.wallets)}`,
    `\\set ${b} CASE WHEN :${a} <= :${k} THEN random(1, :${k} - 1) ELSE random(1, :${k}) END`,
    `\\set ${b} CASE WHEN :${a} <= :${k} AND :${b} >= :${a} THEN :${b} + 1 ELSE :${b} END`,
  ];
}
