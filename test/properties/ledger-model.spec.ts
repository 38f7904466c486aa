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
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('deposit' as const), to: party, units: amountUnits }),
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
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
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

        for (const o of ops) {
          let res: request.Response;
          switch (o.kind) {
            case 'deposit': {
              const u = BigInt(o.units);
              res = await post(admin, `/admin/wallets/${wallets[o.to].id}/deposits`, {
                amount: text(u),
                currency: 'USD',
              });
              expect(res.status).toBe(201);
              balance[o.to] += u;
              deposited += u;
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
              res = await post(users[o.from], '/transfers', body);
              if (o.from === o.to) {
                expect([res.status, res.body.code]).toEqual([422, 'SAME_WALLET']);
              } else if (balance[o.from] - held[o.from] < u) {
                expect([res.status, res.body.code]).toEqual([422, 'INSUFFICIENT_FUNDS']);
              } else {
                expect(res.status).toBe(201);
                if (o.kind === 'hold') {
                  held[o.from] += u;
                  holds.push({ id: res.body.id, from: o.from, to: o.to, units: u, pending: true });
                } else {
                  balance[o.from] -= u;
                  balance[o.to] += u;
                }
              }
              break;
            }
            case 'withdraw': {
              const u = BigInt(o.units);
              res = await post(users[o.from], '/wallets/me/withdrawals', {
                amount: text(u),
                currency: 'USD',
              });
              if (balance[o.from] - held[o.from] < u) {
                expect([res.status, res.body.code]).toEqual([422, 'INSUFFICIENT_FUNDS']);
              } else {
                expect(res.status).toBe(201);
                balance[o.from] -= u;
                withdrawn += u;
              }
              break;
            }
            case 'capture':
            case 'void': {
              const h = holds[o.hold];
              if (!h) continue;
              const captureUnits = o.kind === 'capture' && o.units !== null ? BigInt(o.units) : h.units;
              res =
                o.kind === 'capture'
                  ? await post(
                      users[h.to],
                      `/transfers/${h.id}/capture`,
                      o.units === null ? {} : { amount: text(captureUnits) },
                    )
                  : await post(users[h.to], `/transfers/${h.id}/void`, {});
              if (!h.pending) {
                expect([res.status, res.body.code]).toEqual([409, 'TRANSFER_NOT_PENDING']);
              } else if (o.kind === 'capture' && captureUnits > h.units) {
                expect([res.status, res.body.code]).toEqual([422, 'AMOUNT_EXCEEDS_HOLD']);
              } else {
                expect(res.status).toBe(200);
                h.pending = false;
                held[h.from] -= h.units;
                if (o.kind === 'capture') {
                  balance[h.from] -= captureUnits;
                  balance[h.to] += captureUnits;
                }
              }
              break;
            }
            case 'invalid':
              res = await post(users[o.from], '/transfers', {
                toWalletId: wallets[o.to].id,
                amount: o.amount,
                currency: 'USD',
              });
              expect(res.status).toBe(400);
              break;
          }
          for (let i = 0; i < 3; i++) {
            const w = await request(t.server)
              .get('/api/v1/wallets/me')
              .auth(users[i].token, { type: 'bearer' });
            expect({ balance: w.body.balance, availableBalance: w.body.availableBalance }).toEqual({
              balance: text(balance[i]),
              availableBalance: text(balance[i] - held[i]),
            });
          }
          expect(balance.reduce((a, b) => a + b, 0n)).toBe(deposited - withdrawn);
        }
      }),
      { numRuns: 15, ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}) },
    );
  });
});
