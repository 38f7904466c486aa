import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import request from 'supertest';
import { MetricsService } from '../../src/metrics/metrics.service';
import { startTestApp, type TestApp } from '../support/app';
import { createUser, createWallet, type TestUser, type TestWallet } from '../support/factories';
import { expectLedgerConsistent } from '../support/ledger-checks';
import { mergeOrders, serializeWallet, text, units, type WalletStep } from '../support/model';

/**
 * Invariant: whatever batches of concurrent requests two instances on one database answer, the answers
 * and the ledger are explained by SOME serial order of the accepted movements, in which each was allowed
 * where it stands, and every wallet then holds exactly what the model says (balance, held, available).
 *
 * Concurrent outcomes depend on commit order, so the model does not predict each answer. It predicts what
 * does not depend on order (SAME_WALLET, CURRENCY_MISMATCH, captures and voids of settled holds, replays
 * byte for byte, IDEMPOTENCY_KEY_REUSED) and the set of answers allowed for the rest; then it takes the
 * order from the ledger (each wallet's entries in id order, which is commit order: the row lock is held
 * from the balance update to the commit) and checks that the accepted movements replay on the exact model
 * in that order, with holds and voids (no ledger line) placed wherever some valid order allows, that every
 * INSUFFICIENT_FUNDS refusal saw a state some such order passes through, that refusals and replays moved
 * nothing, and that the ledger holds exactly the lines of the accepted movements.
 *
 * Two configurations. Without the combiner (TRANSFER_QUEUE=false) only the database's version checks
 * guard the wallets, and instance b takes the engine's locked path (wallets locked in id order before the
 * read) from its first attempt, so every batch races the optimistic path against the locked one. With the
 * write combiner on both instances, each instance folds its concurrent requests into set-based statements
 * decided in memory, and the two instances' statements race each other: the outcome must still be one
 * serial order, refusals and replays included.
 * A failure prints fast-check's seed and path: FC_SEED=<seed> npx jest test/properties/concurrent-model.
 * Concurrency makes a replay of the seed likely, not certain, to hit the same interleaving.
 */

/** Users 0..3 hold USD, user 4 EUR (for CURRENCY_MISMATCH). */
const CURRENCIES = ['USD', 'USD', 'USD', 'USD', 'EUR'];
const USERS = CURRENCIES.length;

type Op =
  | { kind: 'transfer'; from: number; to: number; units: number; hold: boolean; via: number }
  | { kind: 'withdraw'; from: number; units: number; via: number }
  | { kind: 'deposit'; to: number; units: number; via: number }
  | { kind: 'capture'; hold: number; units: number | null; byAdmin: boolean; via: number }
  | { kind: 'void'; hold: number; byAdmin: boolean; via: number }
  | { kind: 'replay'; pick: number; via: number }
  | { kind: 'reuse'; pick: number; via: number };

const who = fc.nat(USERS - 1);
const via = fc.nat(1);
// Small amounts against small balances, so that refusals for insufficient funds are common.
const amount = fc.oneof(
  fc.integer({ min: 1, max: 4 }).map((n) => n * 10000),
  fc.integer({ min: 1, max: 40000 }),
);
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('transfer' as const),
      from: who,
      to: who,
      units: amount,
      hold: fc.constant(false),
      via,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('transfer' as const),
      from: who,
      to: who,
      units: amount,
      hold: fc.constant(true),
      via,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('deposit' as const),
      to: who,
      units: fc.integer({ min: 1, max: 6 }).map((n) => n * 10000),
      via,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('withdraw' as const), from: who, units: amount, via }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('capture' as const),
      hold: fc.nat(50),
      units: fc.option(amount, { nil: null }),
      byAdmin: fc.boolean(),
      via,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('void' as const),
      hold: fc.nat(50),
      byAdmin: fc.boolean(),
      via,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('replay' as const), pick: fc.nat(1000), via }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reuse' as const), pick: fc.nat(1000), via }) },
);
const batches = fc.array(fc.array(op, { minLength: 10, maxLength: 18 }), { minLength: 2, maxLength: 4 });

interface Hold {
  id: string;
  from: number;
  to: number;
  units: bigint;
  state: 'PENDING' | 'COMPLETED' | 'VOIDED';
  /** What its capture moved. */
  captured?: bigint;
}

interface Req {
  caller: TestUser;
  path: string;
  body: Record<string, unknown>;
  key: string;
  via: number;
}

type Intent =
  | { kind: 'transfer'; from: number; to: number; u: bigint; hold: boolean }
  | { kind: 'withdraw'; from: number; u: bigint }
  | { kind: 'deposit'; to: number; u: bigint }
  | { kind: 'capture'; hold: Hold; u: bigint | null }
  | { kind: 'void'; hold: Hold }
  | { kind: 'replay'; of: Sent }
  | { kind: 'reuse'; of: Sent };

interface Answer {
  status: number;
  text: string;
  body: Record<string, unknown>;
  replayed: string | undefined;
  retryAfter: string | undefined;
}

interface Sent {
  req: Req;
  intent: Intent;
  res: Answer;
}

/** A committed movement that leaves ledger lines, as the model expects it. */
interface Movement {
  label: string;
  type: 'TRANSFER' | 'DEPOSIT' | 'WITHDRAWAL';
  amount: bigint;
  /** Signed ledger amount per wallet index. */
  lines: Map<number, bigint>;
  /** The wallet that must have had the funds available, and how much. */
  needs?: { wallet: number; u: bigint };
  /** A capture also releases its hold on the sender. */
  releases?: { wallet: number; u: bigint };
  /** A new transaction row (not a capture, which settles an existing one). */
  created: boolean;
}

const CONFIGS: Array<{ name: string; a: Record<string, string>; b: Record<string, string> }> = [
  {
    name: 'combiner off, optimistic against locked',
    a: { TRANSFER_QUEUE: 'false' },
    b: { TRANSFER_QUEUE: 'false', TRANSFER_LOCK_AFTER_ATTEMPTS: '1' },
  },
  { name: 'write combiner on both', a: { TRANSFER_QUEUE: 'true' }, b: { TRANSFER_QUEUE: 'true' } },
];

describe.each(CONFIGS)(
  'two instances, one database, concurrent batches explained by a serial order (property): $name',
  (cfg) => {
    let a: TestApp;
    let b: TestApp;
    let admin: TestUser;

    beforeAll(async () => {
      a = await startTestApp(cfg.a);
      b = await startTestApp(cfg.b, a.db);
      admin = await createUser(a, { role: 'ADMIN' });
    });
    afterAll(async () => {
      if (a) await expectLedgerConsistent(a, admin);
      await b?.close();
      await a?.close();
    });

    it('explains every batch by a serial order and ends on the model exactly', async () => {
      await fc.assert(
        fc.asyncProperty(batches, async (plan) => {
          const apps = [a, b];
          const users = await Promise.all(CURRENCIES.map(() => createUser(a)));
          const wallets: TestWallet[] = await Promise.all(
            users.map((u, i) => createWallet(b, u, CURRENCIES[i])),
          );
          const walletIndex = new Map(wallets.map((w, i) => [w.id, i]));
          const balance = CURRENCIES.map(() => 0n);
          const held = CURRENCIES.map(() => 0n);
          const holds: Hold[] = [];
          /** Earlier answers that were stored (2xx and 422): the ones a replay must give back. */
          const stored: Sent[] = [];

          const send = async (r: Req): Promise<Answer> => {
            const res = await request(apps[r.via].server)
              .post(`/api/v1${r.path}`)
              .auth(r.caller.token, { type: 'bearer' })
              .set('Idempotency-Key', r.key)
              .send(r.body);
            return {
              status: res.status,
              text: res.text,
              body: res.body as Record<string, unknown>,
              replayed: res.headers['idempotent-replayed'],
              retryAfter: res.headers['retry-after'],
            };
          };

          /** The request an op stands for, against what the model knows at the start of the batch. */
          const resolve = (o: Op): { req: Req; intent: Intent } | null => {
            const key = randomUUID();
            switch (o.kind) {
              case 'transfer':
                return {
                  intent: { kind: 'transfer', from: o.from, to: o.to, u: BigInt(o.units), hold: o.hold },
                  req: {
                    caller: users[o.from],
                    path: '/transfers',
                    body: {
                      toWalletId: wallets[o.to].id,
                      amount: text(BigInt(o.units)),
                      currency: CURRENCIES[o.from],
                      ...(o.hold ? { hold: true } : {}),
                    },
                    key,
                    via: o.via,
                  },
                };
              case 'withdraw':
                return {
                  intent: { kind: 'withdraw', from: o.from, u: BigInt(o.units) },
                  req: {
                    caller: users[o.from],
                    path: '/wallets/me/withdrawals',
                    body: { amount: text(BigInt(o.units)), currency: CURRENCIES[o.from] },
                    key,
                    via: o.via,
                  },
                };
              case 'deposit':
                return {
                  intent: { kind: 'deposit', to: o.to, u: BigInt(o.units) },
                  req: {
                    caller: admin,
                    path: `/admin/wallets/${wallets[o.to].id}/deposits`,
                    body: { amount: text(BigInt(o.units)), currency: CURRENCIES[o.to] },
                    key,
                    via: o.via,
                  },
                };
              case 'capture':
              case 'void': {
                if (holds.length === 0) return null;
                const h = holds[o.hold % holds.length];
                const caller = o.byAdmin ? admin : users[h.to];
                if (o.kind === 'void') {
                  return {
                    intent: { kind: 'void', hold: h },
                    req: { caller, path: `/transfers/${h.id}/void`, body: {}, key, via: o.via },
                  };
                }
                const u = o.units === null ? null : BigInt(o.units);
                return {
                  intent: { kind: 'capture', hold: h, u },
                  req: {
                    caller,
                    path: `/transfers/${h.id}/capture`,
                    body: u === null ? {} : { amount: text(u) },
                    key,
                    via: o.via,
                  },
                };
              }
              case 'replay':
              case 'reuse': {
                const candidates =
                  o.kind === 'replay' ? stored : stored.filter((s) => typeof s.req.body.amount === 'string');
                if (candidates.length === 0) return null;
                const of = candidates[o.pick % candidates.length];
                const body =
                  o.kind === 'replay'
                    ? of.req.body
                    : { ...of.req.body, amount: text(units(of.req.body.amount as string) + 10000n) };
                return { intent: { kind: o.kind, of }, req: { ...of.req, body, via: o.via } };
              }
            }
          };

          for (const ops of plan) {
            const pendingAtStart = new Set(holds.filter((h) => h.state === 'PENDING').map((h) => h.id));
            const start = balance.map((bal, i) => ({ balance: bal, held: held[i] }));
            const marks = (
              await a.sql.query<{ entry: string; seq: string }>(
                `SELECT (SELECT COALESCE(max(id), 0) FROM ledger_entries)::text AS entry,
                      (SELECT COALESCE(max(seq), 0) FROM transactions)::text AS seq`,
              )
            ).rows[0];

            const resolved = ops.map(resolve).filter((r): r is { req: Req; intent: Intent } => r !== null);
            const sent: Sent[] = await Promise.all(
              resolved.map(async (r) => ({ ...r, res: await send(r.req) })),
            );

            // --- judge every answer against the answers the model allows ---
            const label = (s: Sent) =>
              `${s.intent.kind} ${s.req.path} ${JSON.stringify(s.req.body)} via ${s.req.via} -> ${s.res.status} ${s.res.text}`;
            const fail = (s: Sent, why: string): never => {
              throw new Error(`${why}\n  ${label(s)}\n  batch:\n    ${sent.map(label).join('\n    ')}`);
            };
            const code = (s: Sent) => s.res.body.code as string | undefined;
            const is = (s: Sent, status: number, c?: string) => s.res.status === status && code(s) === c;
            const conflict = (s: Sent) =>
              is(s, 409, 'CONCURRENCY_CONFLICT') && s.res.retryAfter !== undefined;
            const expectBody = (s: Sent, fields: Record<string, unknown>) => {
              for (const [k, v] of Object.entries(fields)) {
                if (s.res.body[k] !== v)
                  fail(s, `${k} is ${JSON.stringify(s.res.body[k])}, expected ${JSON.stringify(v)}`);
              }
            };

            const winners = new Map<string, Sent>();
            for (const s of sent) {
              if ((s.intent.kind === 'capture' || s.intent.kind === 'void') && s.res.status === 200) {
                const h = s.intent.hold;
                if (winners.has(h.id)) fail(s, `a second capture or void of hold ${h.id} succeeded`);
                if (!pendingAtStart.has(h.id)) fail(s, `hold ${h.id} was already ${h.state}`);
                winners.set(h.id, s);
              }
            }

            const movements = new Map<string, Movement>();
            const floating = CURRENCIES.map((): WalletStep[] => []);
            const refusals: Array<{ s: Sent; wallet: number; u: bigint; id: string; type: string }> = [];
            const newHolds: Hold[] = [];

            for (const s of sent) {
              const it = s.intent;
              if (it.kind !== 'replay' && s.res.replayed !== undefined)
                fail(s, 'a first answer marked as replayed');
              switch (it.kind) {
                case 'transfer': {
                  if (it.from === it.to) {
                    if (!is(s, 422, 'SAME_WALLET')) fail(s, 'expected 422 SAME_WALLET');
                  } else if (CURRENCIES[it.from] !== CURRENCIES[it.to]) {
                    if (!is(s, 422, 'CURRENCY_MISMATCH')) fail(s, 'expected 422 CURRENCY_MISMATCH');
                  } else if (s.res.status === 201) {
                    const id = s.res.body.id as string;
                    expectBody(s, {
                      type: 'TRANSFER',
                      status: it.hold ? 'PENDING' : 'COMPLETED',
                      amount: text(it.u),
                      sourceWalletId: wallets[it.from].id,
                      destinationWalletId: wallets[it.to].id,
                    });
                    if (it.hold) {
                      expectBody(s, { heldAmount: text(it.u) });
                      floating[it.from].push({ label: `hold ${id}`, balance: 0n, held: it.u, needs: it.u });
                      newHolds.push({ id, from: it.from, to: it.to, units: it.u, state: 'PENDING' });
                    } else {
                      movements.set(id, {
                        label: label(s),
                        type: 'TRANSFER',
                        amount: it.u,
                        lines: new Map([
                          [it.from, -it.u],
                          [it.to, it.u],
                        ]),
                        needs: { wallet: it.from, u: it.u },
                        created: true,
                      });
                    }
                  } else if (is(s, 422, 'INSUFFICIENT_FUNDS')) {
                    refusals.push({
                      s,
                      wallet: it.from,
                      u: it.u,
                      id: s.res.body.transactionId as string,
                      type: 'TRANSFER',
                    });
                  } else if (!conflict(s)) {
                    fail(s, 'expected 201, 422 INSUFFICIENT_FUNDS or 409 CONCURRENCY_CONFLICT');
                  }
                  break;
                }
                case 'withdraw':
                  if (s.res.status === 201) {
                    expectBody(s, {
                      type: 'WITHDRAWAL',
                      status: 'COMPLETED',
                      amount: text(it.u),
                      sourceWalletId: wallets[it.from].id,
                    });
                    movements.set(s.res.body.id as string, {
                      label: label(s),
                      type: 'WITHDRAWAL',
                      amount: it.u,
                      lines: new Map([[it.from, -it.u]]),
                      needs: { wallet: it.from, u: it.u },
                      created: true,
                    });
                  } else if (is(s, 422, 'INSUFFICIENT_FUNDS')) {
                    refusals.push({
                      s,
                      wallet: it.from,
                      u: it.u,
                      id: s.res.body.transactionId as string,
                      type: 'WITHDRAWAL',
                    });
                  } else if (!conflict(s)) {
                    fail(s, 'expected 201, 422 INSUFFICIENT_FUNDS or 409 CONCURRENCY_CONFLICT');
                  }
                  break;
                case 'deposit':
                  if (s.res.status === 201) {
                    expectBody(s, {
                      type: 'DEPOSIT',
                      status: 'COMPLETED',
                      amount: text(it.u),
                      destinationWalletId: wallets[it.to].id,
                    });
                    movements.set(s.res.body.id as string, {
                      label: label(s),
                      type: 'DEPOSIT',
                      amount: it.u,
                      lines: new Map([[it.to, it.u]]),
                      created: true,
                    });
                  } else if (!conflict(s)) {
                    fail(s, 'expected 201 or 409 CONCURRENCY_CONFLICT');
                  }
                  break;
                case 'capture':
                case 'void': {
                  const h = it.hold;
                  const captured = it.kind === 'capture' ? (it.u ?? h.units) : 0n;
                  const winner = winners.get(h.id);
                  if (!pendingAtStart.has(h.id)) {
                    if (!is(s, 409, 'TRANSFER_NOT_PENDING'))
                      fail(s, `hold was ${h.state} before the batch: expected 409 TRANSFER_NOT_PENDING`);
                  } else if (winner === s) {
                    if (it.kind === 'capture') {
                      if (captured > h.units) fail(s, 'captured more than was held');
                      expectBody(s, {
                        id: h.id,
                        status: 'COMPLETED',
                        amount: text(captured),
                        heldAmount: text(h.units),
                      });
                      movements.set(h.id, {
                        label: label(s),
                        type: 'TRANSFER',
                        amount: captured,
                        lines: new Map([
                          [h.from, -captured],
                          [h.to, captured],
                        ]),
                        releases: { wallet: h.from, u: h.units },
                        created: false,
                      });
                    } else {
                      expectBody(s, { id: h.id, status: 'FAILED', failureReason: 'VOIDED' });
                      floating[h.from].push({ label: `void ${h.id}`, balance: 0n, held: -h.units });
                    }
                  } else if (
                    it.kind === 'capture' &&
                    captured > h.units &&
                    is(s, 422, 'AMOUNT_EXCEEDS_HOLD')
                  ) {
                    // Seen while the hold was still pending.
                  } else if (is(s, 409, 'TRANSFER_NOT_PENDING')) {
                    if (!winner) fail(s, 'TRANSFER_NOT_PENDING, but nothing settled the hold');
                  } else if (!conflict(s)) {
                    fail(
                      s,
                      'expected 200, 422 AMOUNT_EXCEEDS_HOLD (capture of more), 409 TRANSFER_NOT_PENDING or CONCURRENCY_CONFLICT',
                    );
                  }
                  break;
                }
                case 'replay':
                  if (
                    s.res.status !== it.of.res.status ||
                    s.res.text !== it.of.res.text ||
                    s.res.replayed !== 'true'
                  ) {
                    fail(
                      s,
                      `a replay must give back, byte for byte and marked replayed, the first answer:\n  ${label(it.of)}`,
                    );
                  }
                  break;
                case 'reuse':
                  if (!is(s, 422, 'IDEMPOTENCY_KEY_REUSED')) fail(s, 'expected 422 IDEMPOTENCY_KEY_REUSED');
                  break;
              }
            }

            // --- the database holds exactly the accepted movements and the recorded refusals ---
            const ids = wallets.map((w) => w.id);
            const entries = (
              await a.sql.query<{
                id: string;
                wallet: string;
                tx: string;
                amount: string;
                after: string;
                at: string;
              }>(
                `SELECT id::text, wallet_id AS wallet, transaction_id AS tx, amount::text, balance_after::text AS after,
                      to_char(created_at, 'HH24:MI:SS.US') AS at
                 FROM ledger_entries l WHERE l.id > $1 AND l.wallet_id = ANY($2::uuid[]) ORDER BY l.id`,
                [marks.entry, ids],
              )
            ).rows;
            const line = (tx: string, w: number, u: bigint) => `${tx} wallet ${w} ${text(u)}`;
            expect(
              entries.map((e) => line(e.tx, walletIndex.get(e.wallet) as number, units(e.amount))).sort(),
            ).toEqual(
              [...movements].flatMap(([tx, m]) => [...m.lines].map(([w, u]) => line(tx, w, u))).sort(),
            );
            const created = (
              await a.sql.query<{ row: string }>(
                `SELECT id || ' ' || type || ' ' || status || ' ' || amount::text || ' ' || COALESCE(failure_reason, '-') AS row
                 FROM transactions
                WHERE seq > $1 AND (source_wallet_id = ANY($2::uuid[]) OR destination_wallet_id = ANY($2::uuid[]))`,
                [marks.seq, ids],
              )
            ).rows.map((r) => r.row);
            expect(created.sort()).toEqual(
              [
                ...[...movements]
                  .filter(([, m]) => m.created)
                  .map(([id, m]) => `${id} ${m.type} COMPLETED ${text(m.amount)} -`),
                ...newHolds.map((h) => `${h.id} TRANSFER PENDING ${text(h.units)} -`),
                ...refusals.map((r) => `${r.id} ${r.type} FAILED ${text(r.u)} INSUFFICIENT_FUNDS`),
              ].sort(),
            );
            const settledBefore = holds.map((h) => h.id);
            if (settledBefore.length > 0) {
              const rows = (
                await a.sql.query<{ row: string }>(
                  `SELECT id || ' ' || status || ' ' || amount::text || ' ' || COALESCE(failure_reason, '-') AS row
                   FROM transactions WHERE id = ANY($1::uuid[])`,
                  [settledBefore],
                )
              ).rows.map((r) => r.row);
              expect(rows.sort()).toEqual(
                holds
                  .map((h) => {
                    const w = winners.get(h.id);
                    const state = w ? (w.intent.kind === 'capture' ? 'COMPLETED' : 'VOIDED') : h.state;
                    const moved = w && w.intent.kind === 'capture' ? (w.intent.u ?? h.units) : h.captured;
                    if (state === 'PENDING') return `${h.id} PENDING ${text(h.units)} -`;
                    if (state === 'VOIDED') return `${h.id} FAILED ${text(h.units)} VOIDED`;
                    return `${h.id} COMPLETED ${text(moved as bigint)} -`;
                  })
                  .sort(),
              );
            }

            // --- a serial order: each wallet's ledger in commit order, holds and voids wherever they fit ---
            const chains = CURRENCIES.map((): string[] => []);
            const fixed = CURRENCIES.map((): WalletStep[] => []);
            const running = start.map((s) => s.balance);
            for (const e of entries) {
              const w = walletIndex.get(e.wallet) as number;
              const m = movements.get(e.tx) as Movement;
              running[w] += units(e.amount);
              if (units(e.after) !== running[w]) {
                throw new Error(
                  `wallet ${w} (start ${text(start[w].balance)}): entry ${e.id} says balance after ${e.after}, ` +
                    `the ledger before it adds up to ${text(running[w])}. Its entries (id, transaction, amount, ` +
                    `balance after, created at):\n    ` +
                    entries
                      .filter((x) => x.wallet === e.wallet)
                      .map((x) => `${x.id} ${x.tx} ${x.amount} ${x.after} ${x.at}`)
                      .join('\n    ') +
                    `\n  batch:\n    ${sent.map(label).join('\n    ')}`,
                );
              }
              chains[w].push(e.tx);
              fixed[w].push({
                label: m.label,
                balance: units(e.amount),
                held: m.releases?.wallet === w ? -m.releases.u : 0n,
                needs: m.needs?.wallet === w ? m.needs.u : undefined,
              });
            }
            const merged = mergeOrders(chains);
            if (merged.cycle.length > 0) {
              throw new Error(
                `no serial order agrees with every wallet's ledger; cycle among ${merged.cycle.join(', ')}`,
              );
            }
            for (let w = 0; w < USERS; w++) {
              const order = serializeWallet(start[w], fixed[w], floating[w]);
              if (!order.ok) {
                throw new Error(
                  `wallet ${w} (start ${text(start[w].balance)} held ${text(start[w].held)}): no order of its ` +
                    `movements is allowed at every step.\n  ledger order:\n    ${fixed[w].map((s) => s.label).join('\n    ')}` +
                    `\n  holds and voids:\n    ${floating[w].map((s) => s.label).join('\n    ')}`,
                );
              }
              for (const r of refusals.filter((x) => x.wallet === w)) {
                if (order.minAvailable >= r.u) {
                  fail(
                    r.s,
                    `refused for insufficient funds, but no serial order ever left less than ${text(order.minAvailable)} available`,
                  );
                }
              }
            }

            // --- the model, moved by what was accepted ---
            for (const [, m] of movements) {
              for (const [w, u] of m.lines) balance[w] += u;
              if (m.releases) held[m.releases.wallet] -= m.releases.u;
            }
            for (let w = 0; w < USERS; w++) for (const f of floating[w]) held[w] += f.held;
            for (const [id, s] of winners) {
              const h = holds.find((x) => x.id === id) as Hold;
              if (s.intent.kind === 'capture') {
                h.state = 'COMPLETED';
                h.captured = s.intent.u ?? h.units;
              } else {
                h.state = 'VOIDED';
              }
            }
            holds.push(...newHolds);
            stored.push(
              ...sent.filter(
                (s) =>
                  s.intent.kind !== 'replay' &&
                  s.intent.kind !== 'reuse' &&
                  (s.res.status < 300 || s.res.status === 422),
              ),
            );

            const reported = await Promise.all(
              users.map(async (u, i) => {
                const res = await request(apps[i % 2].server)
                  .get('/api/v1/wallets/me')
                  .auth(u.token, { type: 'bearer' });
                return {
                  status: res.status,
                  balance: res.body.balance as string,
                  availableBalance: res.body.availableBalance as string,
                };
              }),
            );
            expect(reported).toEqual(
              balance.map((bal, i) => ({
                status: 200,
                balance: text(bal),
                availableBalance: text(bal - held[i]),
              })),
            );
          }
        }),
        {
          numRuns: 20,
          // Shrinking replays batches whose interleaving differs each time, slowly and often without
          // reproducing: off unless FC_SHRINK=1. The failing input and seed are printed either way.
          endOnFailure: process.env.FC_SHRINK !== '1',
          ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}),
        },
      );
    }, 600000);

    it('ran the path it names (from the metrics)', async () => {
      const sizes = await Promise.all(
        [a, b].map(async (t) => {
          const m = await t.app.get(MetricsService).batchSize.get();
          const v = (n: string) => m.values.find((x) => x.metricName === n)?.value ?? 0;
          return { statements: v('transfer_batch_size_count'), movements: v('transfer_batch_size_sum') };
        }),
      );
      if (cfg.a.TRANSFER_QUEUE === 'true') {
        // Both instances wrote through the combiner, and some statements carried several movements.
        for (const x of sizes) expect(x.statements).toBeGreaterThan(0);
        expect(sizes.some((x) => x.movements > x.statements)).toBe(true);
      } else {
        expect(sizes).toEqual([
          { statements: 0, movements: 0 },
          { statements: 0, movements: 0 },
        ]);
      }
    });
  },
);
