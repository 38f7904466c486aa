import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import request from 'supertest';
import { startTestApp, type TestApp } from '../support/app';
import { createUser, createWallet, type TestUser, type TestWallet } from '../support/factories';
import { expectLedgerConsistent } from '../support/ledger-checks';

/**
 * Invariant: after every step of any sequence of deposits, transfers, withdrawals, holds, captures, voids
 * and invalid requests, each wallet's balance and available balance equal those of an exact in-memory
 * model (BigInt ten-thousandths), refusals change nothing, and the money in the system equals deposits
 * less withdrawals. Runs against the real app on real PostgreSQL.
 *
 * A failure prints fast-check's seed and path; replay it with FC_SEED=<seed> npx jest test/properties/ledger-model.
 */
type Op =
  | { kind: 'deposit'; to: number; units: number }
  | { kind: 'transfer'; from: number; to: number; units: number }
  | { kind: 'withdraw'; from: number; units: number }
  | { kind: 'hold'; from: number; to: number; units: number }
  | { kind: 'capture'; hold: number; units: number | null }
  | { kind: 'void'; hold: number }
  | { kind: 'invalid'; from: number; to: number; amount: unknown };

const party = fc.integer({ min: 0, max: 2 });
const amountUnits = fc.oneof(
  fc.integer({ min: 1, max: 9999 }),
  fc.integer({ min: 1, max: 60 }).map((n) => n * 10000),
);
// Deposits weigh more and are mostly whole amounts, so that transfers, holds and captures often have
// money to move rather than being refused for insufficient funds almost every time.
const depositUnits = fc.oneof(
  { weight: 1, arbitrary: amountUnits },
  { weight: 3, arbitrary: fc.integer({ min: 10, max: 60 }).map((n) => n * 10000) },
);
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('deposit' as const), to: party, units: depositUnits }),
  },
  fc.record({ kind: fc.constant('transfer' as const), from: party, to: party, units: amountUnits }),
  fc.record({ kind: fc.constant('transfer' as const), from: party, to: party, units: amountUnits }),
  fc.record({ kind: fc.constant('withdraw' as const), from: party, units: amountUnits }),
  fc.record({ kind: fc.constant('hold' as const), from: party, to: party, units: amountUnits }),
  fc.record({
    kind: fc.constant('capture' as const),
    hold: fc.nat(5),
    units: fc.option(amountUnits, { nil: null }),
  }),
  fc.record({ kind: fc.constant('void' as const), hold: fc.nat(5) }),
  fc.record({
    kind: fc.constant('invalid' as const),
    from: party,
    to: party,
    amount: fc.constantFrom<unknown>('-1', '0', '1e2', '1.00001', 5, null, 'NaN', ' 1'),
  }),
);

const text = (u: bigint): string => {
  const s = u.toString().padStart(5, '0');
  return `${BigInt(s.slice(0, -4))}.${s.slice(-4)}`;
};

describe('ledger against an exact model (property, real PostgreSQL)', () => {
  let t: TestApp;
  let admin: TestUser;
  beforeAll(async () => {
    t = await startTestApp();
    admin = await createUser(t, { role: 'ADMIN' });
  });
  afterAll(async () => {
    await expectLedgerConsistent(t, admin);
    await t.close();
  });

  it('keeps every balance equal to the model after every step', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25, size: 'max' }), async (ops) => {
        const users: TestUser[] = [];
        const wallets: TestWallet[] = [];
        for (let i = 0; i < 3; i++) {
          users.push(await createUser(t));
          wallets.push(await createWallet(t, users[i]));
        }
        const balance = [0n, 0n, 0n];
        const held = [0n, 0n, 0n];
        const holds: Array<{ id: string; from: number; to: number; units: bigint; pending: boolean }> = [];
        let deposited = 0n;
        let withdrawn = 0n;
        const post = (u: TestUser, path: string, body: Record<string, unknown>) =>
          request(t.server)
            .post(`/api/v1${path}`)
            .auth(u.token, { type: 'bearer' })
            .set('Idempotency-Key', randomUUID())
            .send(body);

        const wallet = async (i: number) => {
          const w = await request(t.server)
            .get('/api/v1/wallets/me')
            .auth(users[i].token, { type: 'bearer' });
          expect(w.status).toBe(200);
          return w.body as { balance: string; availableBalance: string };
        };
        /** The service's own record of money in and out of these wallets, to set against the model's. */
        const inAndOut = async () => {
          const { rows } = await t.sql.query<{ deposited: string; withdrawn: string }>(
            `SELECT COALESCE(sum(amount) FILTER (WHERE type = 'DEPOSIT'), 0)::numeric(18,4)::text AS deposited,
                    COALESCE(sum(amount) FILTER (WHERE type = 'WITHDRAWAL'), 0)::numeric(18,4)::text AS withdrawn
               FROM transactions
              WHERE status = 'COMPLETED' AND (destination_wallet_id = ANY($1) OR source_wallet_id = ANY($1))`,
            [wallets.map((w) => w.id)],
          );
          return rows[0];
        };

        for (const o of ops) {
          // The model decides the outcome (status, code, and what it does to the model) before the
          // request is sent; only then is the service's answer read and compared with it.
          let expected: { status: number; code?: string; body?: Record<string, unknown> };
          let apply: (res: request.Response) => void = () => undefined;
          let send: () => Promise<request.Response>;
          switch (o.kind) {
            case 'deposit': {
              const u = BigInt(o.units);
              expected = { status: 201, body: { type: 'DEPOSIT', status: 'COMPLETED', amount: text(u) } };
              apply = () => {
                balance[o.to] += u;
                deposited += u;
              };
              send = () =>
                post(admin, `/admin/wallets/${wallets[o.to].id}/deposits`, {
                  amount: text(u),
                  currency: 'USD',
                });
              break;
            }
            case 'transfer':
            case 'hold': {
              const u = BigInt(o.units);
              const body = {
                toWalletId: wallets[o.to].id,
                amount: text(u),
                currency: 'USD',
                ...(o.kind === 'hold' ? { hold: true } : {}),
              };
              if (o.from === o.to) {
                expected = { status: 422, code: 'SAME_WALLET' };
              } else if (balance[o.from] - held[o.from] < u) {
                expected = { status: 422, code: 'INSUFFICIENT_FUNDS' };
              } else if (o.kind === 'hold') {
                expected = { status: 201, body: { type: 'TRANSFER', status: 'PENDING', amount: text(u) } };
                apply = (res) => {
                  held[o.from] += u;
                  // The id is the one thing the model cannot know in advance.
                  holds.push({
                    id: (res.body as { id: string }).id,
                    from: o.from,
                    to: o.to,
                    units: u,
                    pending: true,
                  });
                };
              } else {
                expected = { status: 201, body: { type: 'TRANSFER', status: 'COMPLETED', amount: text(u) } };
                apply = () => {
                  balance[o.from] -= u;
                  balance[o.to] += u;
                };
              }
              send = () => post(users[o.from], '/transfers', body);
              break;
            }
            case 'withdraw': {
              const u = BigInt(o.units);
              if (balance[o.from] - held[o.from] < u) {
                expected = { status: 422, code: 'INSUFFICIENT_FUNDS' };
              } else {
                expected = {
                  status: 201,
                  body: { type: 'WITHDRAWAL', status: 'COMPLETED', amount: text(u) },
                };
                apply = () => {
                  balance[o.from] -= u;
                  withdrawn += u;
                };
              }
              send = () =>
                post(users[o.from], '/wallets/me/withdrawals', { amount: text(u), currency: 'USD' });
              break;
            }
            case 'capture':
            case 'void': {
              // Any existing hold, so that captures and voids are not mostly skipped.
              const h = holds[o.hold % Math.max(holds.length, 1)];
              if (!h) continue;
              const captureUnits = o.kind === 'capture' && o.units !== null ? BigInt(o.units) : h.units;
              if (!h.pending) {
                expected = { status: 409, code: 'TRANSFER_NOT_PENDING' };
              } else if (o.kind === 'capture' && captureUnits > h.units) {
                expected = { status: 422, code: 'AMOUNT_EXCEEDS_HOLD' };
              } else {
                expected = {
                  status: 200,
                  body:
                    o.kind === 'capture'
                      ? {
                          id: h.id,
                          status: 'COMPLETED',
                          amount: text(captureUnits),
                          heldAmount: text(h.units),
                        }
                      : { id: h.id, status: 'FAILED', failureReason: 'VOIDED' },
                };
                apply = () => {
                  h.pending = false;
                  held[h.from] -= h.units;
                  if (o.kind === 'capture') {
                    balance[h.from] -= captureUnits;
                    balance[h.to] += captureUnits;
                  }
                };
              }
              send = () =>
                o.kind === 'capture'
                  ? post(
                      users[h.to],
                      `/transfers/${h.id}/capture`,
                      o.units === null ? {} : { amount: text(captureUnits) },
                    )
                  : post(users[h.to], `/transfers/${h.id}/void`, {});
              break;
            }
            case 'invalid':
              expected = { status: 400, code: 'VALIDATION_FAILED' };
              send = () =>
                post(users[o.from], '/transfers', {
                  toWalletId: wallets[o.to].id,
                  amount: o.amount,
                  currency: 'USD',
                });
              break;
          }
          const res = await send();
          expect({ status: res.status, code: (res.body as { code?: string }).code }).toEqual({
            status: expected.status,
            code: expected.code,
          });
          if (expected.body) expect(res.body).toMatchObject(expected.body);
          apply(res);
          const reported = await Promise.all([0, 1, 2].map(wallet));
          for (let i = 0; i < 3; i++) {
            expect(reported[i]).toMatchObject({
              balance: text(balance[i]),
              availableBalance: text(balance[i] - held[i]),
            });
          }
          // Money is conserved: the service's balances add up to what its records say came in less what
          // went out, and both equal the model's count.
          const total = reported.reduce((sum, w) => sum + BigInt(w.balance.replace('.', '')), 0n);
          expect({ total: text(total), ...(await inAndOut()) }).toEqual({
            total: text(deposited - withdrawn),
            deposited: text(deposited),
            withdrawn: text(withdrawn),
          });
        }
      }),
      { numRuns: 15, ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}) },
    );
  });
});
