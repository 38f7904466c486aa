import { Money } from '../../src/common/money/money';
import type { Decision, EngineState, Movement, WalletState } from '../../src/transfers/engine/engine.types';
import { decide } from '../../src/transfers/engine/movement-rules';
import type { TxRecord } from '../../src/transfers/transaction.record';

/** The movement rules are a pure function of (state, movement): every refusal code, no database. */
const NOW = new Date('2026-01-01T00:00:00.000Z');
let ids = 0;
const ctx = { now: NOW, newId: () => `00000000-0000-4000-8000-${String(++ids).padStart(12, '0')}` };

const ALICE = 'a0000000-0000-4000-8000-000000000001';
const BOB = 'b0000000-0000-4000-8000-000000000002';
const ADMIN = 'c0000000-0000-4000-8000-000000000003';
const WA = 'aa000000-0000-4000-8000-000000000001';
const WB = 'bb000000-0000-4000-8000-000000000002';
const HOLD = 'dd000000-0000-4000-8000-000000000004';
const STRANGER = 'e0000000-0000-4000-8000-000000000005';

function wallet(id: string, userId: string, balance: string, extra: Partial<WalletState> = {}): WalletState {
  return {
    id,
    userId,
    currency: 'USD',
    balance: Money.parse(balance),
    held: Money.ZERO,
    version: 1,
    userStatus: 'ACTIVE',
    overdraft: Money.ZERO,
    limits: [],
    usage: new Map(),
    monitors: [],
    ...extra,
  };
}

function hold(extra: Partial<TxRecord> = {}): TxRecord {
  return {
    id: HOLD,
    type: 'TRANSFER',
    status: 'PENDING',
    sourceWalletId: WA,
    destinationWalletId: WB,
    amount: Money.parse('10'),
    heldAmount: Money.parse('10'),
    currency: 'USD',
    description: null,
    reference: null,
    failureReason: null,
    initiatedBy: ALICE,
    holdExpiresAt: new Date(NOW.getTime() + 60_000),
    createdAt: NOW,
    completedAt: null,
    metadata: {},
    refundedAmount: Money.ZERO,
    originalTransactionId: null,
    ...extra,
  };
}

function state(
  opts: {
    a?: Partial<WalletState>;
    b?: Partial<WalletState>;
    tx?: TxRecord;
    users?: Record<string, [string, string]>;
  } = {},
): EngineState {
  const a = wallet(WA, ALICE, '100', opts.a);
  const b = wallet(WB, BOB, '5', opts.b);
  const users = opts.users ?? {};
  return {
    wallets: new Map([
      [a.id, a],
      [b.id, b],
    ]),
    walletOfUser: new Map([
      [ALICE, WA],
      [BOB, WB],
    ]),
    users: new Map(
      Object.entries({
        [ALICE]: ['ACTIVE', 'USER'],
        [BOB]: ['ACTIVE', 'USER'],
        [ADMIN]: ['ACTIVE', 'ADMIN'],
        [STRANGER]: ['ACTIVE', 'USER'],
        ...users,
      }).map(([id, [status, role]]) => [id, { status, role }]),
    ),
    transactions: new Map(opts.tx ? [[opts.tx.id, opts.tx]] : []),
    idempotency: new Map(),
  };
}

const transfer = (
  amount: string,
  extra: Partial<Extract<Movement, { kind: 'transfer' }>> = {},
): Movement => ({
  kind: 'transfer',
  caller: { id: ALICE },
  toWalletId: WB,
  amount: Money.parse(amount),
  currency: 'USD',
  ...extra,
});

function refusal(d: Decision): [string, boolean, string | null] {
  if (d.kind !== 'refused') throw new Error(`expected a refusal, got ${JSON.stringify(d.transaction)}`);
  return [d.error.publicCode, d.store, d.record?.failureReason ?? null];
}

describe('movement rules (pure)', () => {
  it('accepts a transfer: a debit and a credit with ledger amounts, both owners required ACTIVE', () => {
    const d = decide(state(), transfer('30'), ctx);
    expect(d.kind).toBe('accepted');
    if (d.kind !== 'accepted') return;
    expect(d.transaction).toMatchObject({ status: 'COMPLETED', sourceWalletId: WA, destinationWalletId: WB });
    expect(
      d.changes.map((c) => [c.walletId, c.balance.toFixed4(), c.ledger?.toFixed4(), c.requireActive]),
    ).toEqual([
      [WA, '-30.0000', '-30.0000', true],
      [WB, '30.0000', '30.0000', true],
    ]);
  });

  it.each([
    [
      'no wallet of the caller',
      state(),
      transfer('1', { caller: { id: ADMIN } }),
      ['WALLET_NOT_FOUND', false, null],
    ],
    ['unknown destination', state(), transfer('1', { toWalletId: HOLD }), ['WALLET_NOT_FOUND', false, null]],
    ['own wallet', state(), transfer('1', { toWalletId: WA }), ['SAME_WALLET', true, null]],
    [
      'currency of the sender',
      state({ a: { currency: 'EUR' } }),
      transfer('1'),
      ['CURRENCY_MISMATCH', true, null],
    ],
    [
      'currency of the receiver',
      state({ b: { currency: 'EUR' } }),
      transfer('1'),
      ['CURRENCY_MISMATCH', true, null],
    ],
    [
      'suspended sender',
      state({ a: { userStatus: 'SUSPENDED' } }),
      transfer('1'),
      ['ACCOUNT_INACTIVE', true, 'ACCOUNT_INACTIVE'],
    ],
    [
      'closed receiver',
      state({ b: { userStatus: 'CLOSED' } }),
      transfer('1'),
      ['ACCOUNT_INACTIVE', true, 'ACCOUNT_INACTIVE'],
    ],
    [
      'more than available',
      state({ a: { held: Money.parse('95') } }),
      transfer('5.0001'),
      ['INSUFFICIENT_FUNDS', true, 'INSUFFICIENT_FUNDS'],
    ],
    [
      'a receiver past 14 integer digits',
      state({ b: { balance: Money.parse('99999999999999.9999') } }),
      transfer('0.0001'),
      ['BALANCE_LIMIT_EXCEEDED', true, null],
    ],
  ])('refuses a transfer: %s', (_name, s, m, expected) => {
    expect(refusal(decide(s, m, ctx))).toEqual(expected);
  });

  it('a hold reserves on the sender only and requires the receiver ACTIVE in the write', () => {
    const d = decide(state(), transfer('10', { hold: true, holdExpiresInSeconds: 60 }), ctx);
    if (d.kind !== 'accepted') throw new Error('refused');
    expect(d.changes.map((c) => [c.walletId, c.balance.toFixed4(), c.held.toFixed4()])).toEqual([
      [WA, '0.0000', '10.0000'],
    ]);
    expect(d.mustBeActive).toEqual([BOB]);
    expect(d.transaction.holdExpiresAt).toEqual(new Date(NOW.getTime() + 60_000));
  });

  it.each([
    ['a suspended admin', { [ADMIN]: ['SUSPENDED', 'ADMIN'] as [string, string] }, ADMIN, 'ACCOUNT_INACTIVE'],
    ['a former admin', { [ADMIN]: ['ACTIVE', 'USER'] as [string, string] }, ADMIN, 'FORBIDDEN'],
  ])('refuses a deposit by %s, as the database has them (not stored)', (_n, users, caller, code) => {
    const m: Movement = {
      kind: 'deposit',
      caller: { id: caller },
      walletId: WB,
      amount: Money.parse('1'),
      currency: 'USD',
    };
    expect(refusal(decide(state({ users }), m, ctx))).toEqual([code, false, null]);
  });

  it('a deposit by an active admin requires the admin still ACTIVE and ADMIN in the write', () => {
    const m: Movement = {
      kind: 'deposit',
      caller: { id: ADMIN },
      walletId: WB,
      amount: Money.parse('1'),
      currency: 'USD',
    };
    const d = decide(state(), m, ctx);
    if (d.kind !== 'accepted') throw new Error('refused');
    expect([d.mustBeActive, d.mustBeAdmin]).toEqual([[ADMIN], [ADMIN]]);
  });

  it('refuses a withdrawal beyond the available balance, recorded', () => {
    const m: Movement = {
      kind: 'withdrawal',
      caller: { id: BOB },
      amount: Money.parse('5.0001'),
      currency: 'USD',
    };
    expect(refusal(decide(state(), m, ctx))).toEqual(['INSUFFICIENT_FUNDS', true, 'INSUFFICIENT_FUNDS']);
  });

  describe('captures and voids', () => {
    const capture = (caller: string, amount?: string): Movement => ({
      kind: 'capture',
      caller: { id: caller },
      transactionId: HOLD,
      amount: amount === undefined ? undefined : Money.parse(amount),
    });
    const held = { a: { held: Money.parse('10') } };

    it('captures part of a hold: moves it and releases all that was held', () => {
      const d = decide(state({ ...held, tx: hold() }), capture(BOB, '4'), ctx);
      if (d.kind !== 'accepted') throw new Error('refused');
      expect(
        d.changes.map((c) => [c.walletId, c.balance.toFixed4(), c.held.toFixed4(), c.requireActive]),
      ).toEqual([
        [WA, '-4.0000', '-10.0000', true],
        [WB, '4.0000', '0.0000', true],
      ]);
      expect(d.settle).toMatchObject({ status: 'COMPLETED', failureReason: null });
    });

    it.each([
      ['a stranger', state({ ...held, tx: hold() }), capture(STRANGER), 'TRANSACTION_NOT_FOUND', false],
      ['the sender', state({ ...held, tx: hold() }), capture(ALICE), 'FORBIDDEN', false],
      [
        'a settled hold',
        state({ tx: hold({ status: 'COMPLETED' }) }),
        capture(BOB),
        'TRANSFER_NOT_PENDING',
        false,
      ],
      [
        'an expired hold',
        state({ ...held, tx: hold({ holdExpiresAt: NOW }) }),
        capture(BOB),
        'TRANSFER_NOT_PENDING',
        false,
      ],
      [
        'more than held',
        state({ ...held, tx: hold() }),
        capture(BOB, '10.0001'),
        'AMOUNT_EXCEEDS_HOLD',
        true,
      ],
      [
        'a closed sender',
        state({ a: { held: Money.parse('10'), userStatus: 'CLOSED' }, tx: hold() }),
        capture(BOB),
        'ACCOUNT_INACTIVE',
        true,
      ],
      [
        'a suspended receiver (the caller)',
        state({ ...held, tx: hold(), users: { [BOB]: ['SUSPENDED', 'USER'] } }),
        capture(BOB),
        'ACCOUNT_INACTIVE',
        false,
      ],
      [
        'a receiver past 14 integer digits',
        state({
          a: { held: Money.parse('10') },
          b: { balance: Money.parse('99999999999999.9999') },
          tx: hold(),
        }),
        capture(BOB),
        'BALANCE_LIMIT_EXCEEDED',
        true,
      ],
    ])('refuses a capture of %s', (_n, s, m, code, store) => {
      const [got, stored] = refusal(decide(s, m, ctx));
      expect([got, stored]).toEqual([code, store]);
    });

    it('voids a hold of a closed sender (money returns to the sender, leaves no account)', () => {
      const s = state({ a: { held: Money.parse('10'), userStatus: 'CLOSED' }, tx: hold() });
      const d = decide(s, { kind: 'void', caller: { id: ADMIN }, transactionId: HOLD }, ctx);
      if (d.kind !== 'accepted') throw new Error('refused');
      expect(
        d.changes.map((c) => [c.walletId, c.balance.toFixed4(), c.held.toFixed4(), c.requireActive]),
      ).toEqual([[WA, '0.0000', '-10.0000', false]]);
      expect([d.transaction.failureReason, d.mustBeAdmin]).toEqual(['VOIDED', [ADMIN]]);
    });

    it('expires only a PENDING hold past its expiry', () => {
      const early = decide(state({ ...held, tx: hold() }), { kind: 'expiry', transactionId: HOLD }, ctx);
      expect(refusal(early)).toEqual(['TRANSFER_NOT_PENDING', false, null]);
      const late = decide(
        state({ ...held, tx: hold({ holdExpiresAt: NOW }) }),
        { kind: 'expiry', transactionId: HOLD },
        ctx,
      );
      expect(late.kind === 'accepted' && late.transaction.failureReason).toBe('EXPIRED');
    });
  });
});
