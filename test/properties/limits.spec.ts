import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import request from 'supertest';
import { Money } from '../../src/common/money/money';
import { startTestApp, type TestApp } from '../support/app';
import { createUser, createWallet, deposit, type TestUser, type TestWallet } from '../support/factories';
import { expectLedgerConsistent } from '../support/ledger-checks';

/**
 * Invariant: whatever concurrent movements two instances on one database admit against random limits,
 * overdrafts and balance monitors, every window's usage equals the sum of what counts in it, no window
 * passes its limit, no balance goes below minus its overdraft, and each monitor's events are exactly the
 * crossings of its field, each naming the movement that crossed: for `balance`, of the wallet's running
 * balance (ledger order); for `availableBalance` (balance - PENDING holds + overdraft, contract v1.2), of
 * the running value replayed from the wallet's events in sequence order (holds, captures, voids and
 * expiries move it without a ledger line), a replay held to the ledger and to the wallet's row.
 *
 * The movements: transfers, atomic and plain batches, holds (some expiring within the run), captures,
 * voids, refunds, withdrawals and deposits, sent at once through both instances (write combiner on).
 * A failure prints fast-check's seed: FC_SEED=<seed> npx jest test/properties/limits.
 */

const USERS = 4;

type Op =
  | { kind: 'transfer'; from: number; to: number; cents: number; hold: boolean; expiring: boolean }
  | { kind: 'batch'; from: number; to: number[]; cents: number; atomic: boolean }
  | { kind: 'withdraw'; from: number; cents: number }
  | { kind: 'deposit'; to: number; cents: number }
  | { kind: 'capture'; pick: number; part: boolean }
  | { kind: 'void'; pick: number }
  | { kind: 'refund'; pick: number };

const who = fc.nat(USERS - 1);
const cents = fc.integer({ min: 1, max: 4000 });
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('transfer' as const),
      from: who,
      to: who,
      cents,
      hold: fc.boolean(),
      expiring: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('batch' as const),
      from: who,
      to: fc.array(who, { minLength: 1, maxLength: 3 }),
      cents,
      atomic: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('withdraw' as const), from: who, cents }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deposit' as const), to: who, cents }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('capture' as const), pick: fc.nat(99), part: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('void' as const), pick: fc.nat(99) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('refund' as const), pick: fc.nat(99) }) },
);

type Field = 'balance' | 'availableBalance';

interface Setup {
  overdraft: number;
  perTransaction: number | null;
  daily: { amount: number | null; count: number | null };
  weekly: number | null;
  monitors: Array<{ field: Field; operator: 'lt' | 'lte' | 'gt' | 'gte'; value: number }>;
}
const setup: fc.Arbitrary<Setup> = fc.record({
  overdraft: fc.integer({ min: 0, max: 5000 }),
  perTransaction: fc.option(fc.integer({ min: 500, max: 4000 }), { nil: null }),
  daily: fc.record({
    amount: fc.option(fc.integer({ min: 0, max: 15000 }), { nil: null }),
    count: fc.option(fc.integer({ min: 0, max: 8 }), { nil: null }),
  }),
  weekly: fc.option(fc.integer({ min: 2000, max: 20000 }), { nil: null }),
  monitors: fc.array(
    fc.record({
      field: fc.constantFrom<Field>('balance', 'availableBalance'),
      operator: fc.constantFrom('lt' as const, 'lte' as const, 'gt' as const, 'gte' as const),
      value: fc.integer({ min: -3000, max: 12000 }),
    }),
    { maxLength: 4 },
  ),
});
const runs = fc.record({
  setups: fc.array(setup, { minLength: USERS, maxLength: USERS }),
  batches: fc.array(fc.array(op, { minLength: 8, maxLength: 16 }), { minLength: 2, maxLength: 3 }),
});

const money = (c: number) => (c / 100).toFixed(2);

function meets(balance: Money, operator: string, value: Money): boolean {
  const c = balance.cmp(value);
  return operator === 'lt' ? c < 0 : operator === 'lte' ? c <= 0 : operator === 'gt' ? c > 0 : c >= 0;
}

/** A wallet right after one of its movements: the running balance and available balance. */
interface Step {
  sequence: string;
  tx: string;
  balance: Money;
  available: Money;
  /** Whether the balance moved (so the ledger has a line for it). */
  moved: boolean;
}

interface WalletEvent {
  sequence: string;
  type: string;
  tx: {
    id: string;
    type: string;
    sourceWalletId: string | null;
    destinationWalletId: string | null;
    amount: string;
    heldAmount: string | null;
  } | null;
}

/**
 * What one event's movement did to a wallet's balance and held amount, from the transaction it carries (as
 * it stands after the change): money moves on a completed movement, a capture and a refund (source less,
 * destination more); a hold reserves its heldAmount at creation and releases all of it when it is captured,
 * voided or expires. FAILED records and monitor events move nothing.
 */
function effectOn(walletId: string, e: WalletEvent): { balance: Money; held: Money } {
  const none = { balance: Money.ZERO, held: Money.ZERO };
  const tx = e.tx;
  if (!tx) return none;
  const amount = Money.fromDb(tx.amount);
  const out = tx.sourceWalletId === walletId;
  const into = tx.destinationWalletId === walletId;
  const held = tx.heldAmount === null ? Money.ZERO : Money.fromDb(tx.heldAmount);
  switch (e.type) {
    case 'transaction.completed':
    case 'refund.completed':
      return { balance: out ? amount.neg() : into ? amount : Money.ZERO, held: Money.ZERO };
    case 'hold.created':
      return { balance: Money.ZERO, held: out ? held : Money.ZERO };
    case 'hold.captured':
      return {
        balance: out ? amount.neg() : into ? amount : Money.ZERO,
        held: out ? held.neg() : Money.ZERO,
      };
    case 'hold.voided':
    case 'hold.expired':
      return { balance: Money.ZERO, held: out ? held.neg() : Money.ZERO };
    default:
      return none;
  }
}

describe('limits, overdraft and monitors under concurrent movements on two instances', () => {
  let a: TestApp;
  let b: TestApp;
  let admin: TestUser;
  beforeAll(async () => {
    const env = { HOLD_MIN_EXPIRY_SECONDS: '1', HOLD_EXPIRY_INTERVAL_MS: '300' };
    a = await startTestApp(env);
    b = await startTestApp(env, a.db);
    admin = await createUser(a, { role: 'ADMIN' });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  /** Waits until the sequencer has numbered every committed event. */
  async function allEventsNumbered(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const { rows } = await a.sql.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM events e WHERE NOT EXISTS (SELECT 1 FROM numbered_events s WHERE s.id = e.id)`,
      );
      if (rows[0].n === '0') return;
      if (attempt > 200) throw new Error('events were not numbered in time');
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  it('keeps usage exact, windows within limits, balances above overdrafts and monitor events on the crossings', async () => {
    await fc.assert(
      fc.asyncProperty(runs, async ({ setups, batches }) => {
        const apps = [a, b];
        const users: TestUser[] = [];
        const wallets: TestWallet[] = [];
        for (let i = 0; i < USERS; i++) {
          users.push(await createUser(a));
          wallets.push(await createWallet(a, users[i]));
          await deposit(a, admin, wallets[i].id, '100');
        }
        const monitors: Array<{
          id: string;
          wallet: string;
          field: Field;
          operator: string;
          value: Money;
          met: boolean;
        }> = [];
        for (const [i, s] of setups.entries()) {
          const limits = [
            ...(s.perTransaction !== null
              ? [{ window: 'PER_TRANSACTION', maxAmount: money(s.perTransaction) }]
              : []),
            ...(s.daily.amount !== null || s.daily.count !== null
              ? [
                  {
                    window: 'DAILY',
                    ...(s.daily.amount !== null ? { maxAmount: money(s.daily.amount) } : {}),
                    ...(s.daily.count !== null ? { maxCount: s.daily.count } : {}),
                  },
                ]
              : []),
            ...(s.weekly !== null ? [{ window: 'WEEKLY', maxAmount: money(s.weekly) }] : []),
          ];
          await request(a.server)
            .put(`/api/v1/admin/wallets/${wallets[i].id}/limits`)
            .auth(admin.token, { type: 'bearer' })
            .send({ overdraftLimit: money(s.overdraft), limits })
            .expect(200);
          for (const m of s.monitors) {
            const res = await request(b.server)
              .post('/api/v1/wallets/me/monitors')
              .auth(users[i].token, { type: 'bearer' })
              .send({ field: m.field, operator: m.operator, value: money(m.value) })
              .expect(201);
            const body = res.body as { id: string; met: boolean };
            monitors.push({
              id: body.id,
              wallet: wallets[i].id,
              field: m.field,
              operator: m.operator,
              value: Money.fromDb(money(m.value)),
              met: body.met,
            });
          }
        }
        const { rows: mark } = await a.sql.query<{ id: string }>(
          'SELECT COALESCE(max(id), 0)::text AS id FROM ledger_entries',
        );
        // The events before the movements (deposits) set the replay's start; the crossings come after.
        await allEventsNumbered();
        const { rows: eventMark } = await a.sql.query<{ seq: string }>(
          'SELECT COALESCE(max(sequence), 0)::text AS seq FROM numbered_events',
        );

        const holds: string[] = [];
        const paid: Array<{ id: string; to: number }> = [];
        let n = 0;
        for (const batch of batches) {
          await Promise.all(
            batch.map(async (o) => {
              const t = apps[n++ % 2];
              const send = (u: TestUser, path: string, body: Record<string, unknown>) =>
                request(t.server)
                  .post(`/api/v1${path}`)
                  .auth(u.token, { type: 'bearer' })
                  .set('Idempotency-Key', randomUUID())
                  .send(body);
              switch (o.kind) {
                case 'transfer': {
                  const res = await send(users[o.from], '/transfers', {
                    toWalletId: wallets[o.to].id,
                    amount: money(o.cents),
                    currency: 'USD',
                    ...(o.hold ? { hold: true, ...(o.expiring ? { holdExpiresInSeconds: 1 } : {}) } : {}),
                  });
                  if (res.status === 201 && o.hold) holds.push((res.body as { id: string }).id);
                  if (res.status === 201 && !o.hold)
                    paid.push({ id: (res.body as { id: string }).id, to: o.to });
                  return;
                }
                case 'batch':
                  await send(users[o.from], '/transfers/batch', {
                    atomic: o.atomic,
                    transfers: o.to.map((to) => ({
                      toWalletId: wallets[to].id,
                      amount: money(o.cents),
                      currency: 'USD',
                    })),
                  });
                  return;
                case 'withdraw':
                  await send(users[o.from], '/wallets/me/withdrawals', {
                    amount: money(o.cents),
                    currency: 'USD',
                  });
                  return;
                case 'deposit':
                  await send(admin, `/admin/wallets/${wallets[o.to].id}/deposits`, {
                    amount: money(o.cents),
                    currency: 'USD',
                  });
                  return;
                case 'capture':
                case 'void': {
                  const id = holds[o.pick % Math.max(holds.length, 1)];
                  if (!id) return;
                  const body = o.kind === 'capture' && o.part ? { amount: '0.01' } : {};
                  await send(admin, `/transfers/${id}/${o.kind}`, body);
                  return;
                }
                case 'refund': {
                  const p = paid[o.pick % Math.max(paid.length, 1)];
                  if (p) await send(users[p.to], `/transfers/${p.id}/refunds`, { amount: '0.01' });
                  return;
                }
              }
            }),
          );
        }
        // Some holds expire within the run: the expiry job gives them back too.
        await new Promise((r) => setTimeout(r, 1500));

        await expectLedgerConsistent(a, admin);
        const ids = wallets.map((w) => w.id);
        // No window past its limit (the limits did not change during the run).
        const { rows: over } = await a.sql.query(
          `SELECT u.* FROM wallet_usage_windows u JOIN wallet_limits l ON l.wallet_id = u.wallet_id AND l.period = u.period
            WHERE u.wallet_id = ANY($1::uuid[]) AND (u.used_amount > l.max_amount OR u.used_count > l.max_count)`,
          [ids],
        );
        expect(over).toEqual([]);
        // And every spend of a limited wallet is in a kept window of each limited period (a window the
        // engine failed to keep would hide its spending from the two checks above).
        const { rows: uncounted } = await a.sql.query(
          `SELECT t.id, l.period FROM transactions t JOIN wallet_limits l ON l.wallet_id = t.source_wallet_id
            WHERE t.source_wallet_id = ANY($1::uuid[]) AND l.period <> 'PER_TRANSACTION'
              AND t.type IN ('TRANSFER', 'WITHDRAWAL') AND t.status IN ('COMPLETED', 'PENDING')
              AND NOT EXISTS (SELECT 1 FROM wallet_usage_windows u
                               WHERE u.wallet_id = t.source_wallet_id AND u.period = l.period
                                 AND u.period_start = date_trunc(CASE l.period WHEN 'DAILY' THEN 'day'
                                                          WHEN 'WEEKLY' THEN 'week' ELSE 'month' END, t.created_at, 'UTC'))`,
          [ids],
        );
        expect(uncounted).toEqual([]);
        const { rows: big } = await a.sql.query(
          `SELECT t.id FROM transactions t JOIN wallet_limits l ON l.wallet_id = t.source_wallet_id AND l.period = 'PER_TRANSACTION'
            WHERE t.source_wallet_id = ANY($1::uuid[]) AND t.type IN ('TRANSFER', 'WITHDRAWAL')
              AND t.status IN ('COMPLETED', 'PENDING') AND t.amount > l.max_amount`,
          [ids],
        );
        expect(big).toEqual([]);

        await allEventsNumbered();
        // Each wallet's running balance and available balance after each of its movements, replayed from
        // its events in sequence order (commit order; a combined write's movements in arrival order).
        const replays = new Map<string, Step[]>();
        for (const [i, w] of wallets.entries()) {
          const { rows: events } = await a.sql.query<WalletEvent>(
            `SELECT e.sequence::text AS sequence, e.type, e.data->'transaction' AS tx FROM numbered_events e
              WHERE $1 = ANY(e.wallet_ids) AND e.type NOT LIKE 'monitor.%' ORDER BY e.sequence`,
            [w.id],
          );
          let balance = Money.ZERO;
          let held = Money.ZERO;

          const overdraft = Money.fromDb(money(setups[i].overdraft));
          const steps: Step[] = [];
          for (const e of events) {
            const d = effectOn(w.id, e);
            balance = balance.plus(d.balance);
            held = held.plus(d.held);
            if (BigInt(e.sequence) > BigInt(eventMark[0].seq) && e.tx) {
              steps.push({
                sequence: e.sequence,
                tx: e.tx.id,
                balance,
                available: balance.minus(held).plus(overdraft),
                moved: !d.balance.isZero(),
              });
            }
          }
          // The replay is the wallet's history: it ends where the row is, and its balance walks the ledger.
          const { rows: row } = await a.sql.query<{ b: string; h: string }>(
            'SELECT balance::text AS b, held::text AS h FROM wallets WHERE id = $1',
            [w.id],
          );
          expect([balance.toFixed4(), held.toFixed4()]).toEqual([row[0].b, row[0].h]);
          const { rows: ledger } = await a.sql.query<{ b: string; t: string }>(
            'SELECT balance_after::text AS b, transaction_id AS t FROM ledger_entries WHERE wallet_id = $1 AND id > $2 ORDER BY id',
            [w.id, mark[0].id],
          );
          expect(steps.filter((s) => s.moved).map((s) => [s.balance.toFixed4(), s.tx])).toEqual(
            ledger.map((l) => [l.b, l.t]),
          );
          replays.set(w.id, steps);
        }

        // Each monitor's events, in sequence order, are the crossings of its field: the ledger's running
        // balance for `balance`, the replayed available balance for `availableBalance`.
        for (const m of monitors) {
          const crossings: string[][] = [];
          let met = m.met;
          if (m.field === 'balance') {
            const { rows: ledger } = await a.sql.query<{ b: string; t: string }>(
              'SELECT balance_after::text AS b, transaction_id AS t FROM ledger_entries WHERE wallet_id = $1 AND id > $2 ORDER BY id',
              [m.wallet, mark[0].id],
            );
            for (const line of ledger) {
              const now = meets(Money.fromDb(line.b), m.operator, m.value);
              if (now !== met)
                crossings.push([now ? 'monitor.triggered' : 'monitor.cleared', line.t, line.b]);
              met = now;
            }
          } else {
            for (const step of replays.get(m.wallet) ?? []) {
              const now = meets(step.available, m.operator, m.value);
              if (now !== met) {
                crossings.push([
                  now ? 'monitor.triggered' : 'monitor.cleared',
                  step.tx,
                  step.available.toFixed4(),
                ]);
              }
              met = now;
            }
          }
          const { rows: events } = await a.sql.query<{ type: string; t: string; v: string }>(
            `SELECT type, data->>'transactionId' AS t, data->'wallet'->>$2 AS v FROM numbered_events
              WHERE type LIKE 'monitor.%' AND data->'monitor'->>'id' = $1 ORDER BY sequence`,
            [m.id, m.field],
          );
          expect({ field: m.field, events: events.map((e) => [e.type, e.t, e.v]) }).toEqual({
            field: m.field,
            events: crossings,
          });
          const { rows: row } = await a.sql.query<{ met: boolean }>(
            'SELECT met FROM wallet_monitors WHERE id = $1',
            [m.id],
          );
          expect(row[0].met).toBe(met);
        }
      }),
      {
        numRuns: 4,
        endOnFailure: process.env.FC_SHRINK !== '1',
        ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}),
      },
    );
  }, 600_000);
});
