import { randomUUID } from 'node:crypto';
import { Money } from '../../src/common/money/money';
import { BatchPlan } from '../../src/transfers/engine/batch-plan';
import type { EngineStore } from '../../src/transfers/engine/engine.port';
import type { EngineState, Movement, StateQuery, WritePlan } from '../../src/transfers/engine/engine.types';
import { decide } from '../../src/transfers/engine/movement-rules';
import { recordOf } from '../../src/transfers/idempotency';

/**
 * The engine store's contract: what the engine relies on from storage (engine.port.ts), checked the same
 * way against every implementation: PostgreSQL (test/integration/engine-store.contract.spec.ts) and memory
 * (test/unit/memory-store.contract.spec.ts). Plans are made as the engine makes them: the real rules
 * decide movements against a read, and BatchPlan sums them.
 */
export interface StoreFixture {
  store: EngineStore;
  addUser(id: string, role?: 'USER' | 'ADMIN'): Promise<void>;
  addWallet(id: string, userId: string, currency: string): Promise<void>;
  setUserStatus(id: string, status: 'ACTIVE' | 'SUSPENDED' | 'CLOSED'): Promise<void>;
  /** Committed ledger lines and events. */
  counts(): Promise<{ ledger: number; events: number }>;
  /** Writes waiting for a wallet lock. */
  lockWaiters(): Promise<number>;
  close(): Promise<void>;
}

/** A request fingerprint: sha256 in hex, as the column (char(64)) keeps it. */
const HASH = 'a'.repeat(64);
const NOBODY: StateQuery = { userIds: [], walletIds: [], transactionIds: [], keys: [] };

export function engineStoreContract(name: string, open: () => Promise<StoreFixture>): void {
  describe(`engine store contract: ${name}`, () => {
    let f: StoreFixture;
    let admin: string;
    const party = async (currency = 'USD', funds = '100') => {
      const user = randomUUID();
      const wallet = randomUUID();
      await f.addUser(user);
      await f.addWallet(wallet, user, currency);
      if (funds !== '0') {
        const deposit: Movement = {
          kind: 'deposit',
          caller: { id: admin },
          walletId: wallet,
          amount: Money.parse(funds),
          currency,
        };
        expect((await f.store.write(await planOf([deposit]))).kind).toBe('committed');
      }
      return { user, wallet };
    };
    const read = (q: Partial<StateQuery>): Promise<EngineState> => f.store.readState({ ...NOBODY, ...q });
    const balance = async (wallet: string) =>
      (await read({ walletIds: [wallet] })).wallets.get(wallet)?.balance.toFixed4();
    const transfer = (from: string, to: string, amount: string, hold = false): Movement => ({
      kind: 'transfer',
      caller: { id: from },
      toWalletId: to,
      amount: Money.parse(amount),
      currency: 'USD',
      hold,
    });
    /** The plan the engine would write for these movements, decided against a read made now. */
    async function planOf(movements: Movement[], key?: string): Promise<WritePlan> {
      const q: StateQuery = { ...NOBODY, userIds: [], walletIds: [], transactionIds: [] };
      for (const m of movements) {
        if ('caller' in m) q.userIds.push(m.caller.id);
        if (m.kind === 'transfer') q.walletIds.push(m.toWalletId);
        if (m.kind === 'deposit') q.walletIds.push(m.walletId);
        if ('transactionId' in m) q.transactionIds.push(m.transactionId);
      }
      const state = await f.store.readState(q);
      const now = new Date();
      const plan = new BatchPlan(state, now);
      for (const [i, m] of movements.entries()) {
        const d = decide(state, m, { now, newId: randomUUID });
        if (d.kind !== 'accepted') throw new Error(`refused: ${d.error.code}`);
        const outcome = { kind: 'applied' as const, transaction: d.transaction, created: d.created };
        plan.accept(
          d,
          key && i === 0
            ? recordOf({ movement: m, idem: { key, requestHash: HASH, requestId: 'r' } }, outcome, null)
            : undefined,
        );
      }
      return plan.build();
    }

    beforeAll(async () => {
      f = await open();
      admin = randomUUID();
      await f.addUser(admin, 'ADMIN');
    });
    afterAll(() => f.close());

    it('reads the callers wallets, the wallets named, the parties of a transaction and the stored keys', async () => {
      const a = await party();
      const b = await party();
      const c = await party();
      const plan = await planOf([transfer(a.user, b.wallet, '10')], 'k-read');
      expect(await f.store.write(plan)).toEqual({ kind: 'committed' });
      const txId = plan.inserts[0].id;
      const state = await read({
        userIds: [a.user],
        walletIds: [c.wallet],
        transactionIds: [txId],
        keys: [{ caller: a.user, key: 'k-read' }],
      });
      expect([...state.wallets.keys()].sort()).toEqual([a.wallet, b.wallet, c.wallet].sort());
      expect(state.walletOfUser.get(a.user)).toBe(a.wallet);
      expect(state.users.get(a.user)).toEqual({ status: 'ACTIVE', role: 'USER' });
      expect(state.wallets.get(b.wallet)).toMatchObject({
        userId: b.user,
        currency: 'USD',
        userStatus: 'ACTIVE',
      });
      expect(state.transactions.get(txId)).toMatchObject({ status: 'COMPLETED', type: 'TRANSFER' });
      expect(state.transactions.get(txId)?.amount.toFixed4()).toBe('10.0000');
      expect([...state.idempotency.values()]).toEqual([{ hash: HASH, status: 201, body: expect.anything() }]);
    });

    it('commits a plan whole: balances, versions, the transaction, its ledger lines, key and event', async () => {
      const a = await party();
      const b = await party();
      const before = await read({ walletIds: [a.wallet, b.wallet] });
      const counts = await f.counts();
      const plan = await planOf([transfer(a.user, b.wallet, '30'), transfer(a.user, b.wallet, '5')], 'k-1');
      expect(await f.store.write(plan)).toEqual({ kind: 'committed' });
      const after = await read({
        walletIds: [a.wallet, b.wallet],
        transactionIds: plan.inserts.map((t) => t.id),
      });
      expect(after.wallets.get(a.wallet)?.balance.toFixed4()).toBe('65.0000');
      expect(after.wallets.get(b.wallet)?.balance.toFixed4()).toBe('135.0000');
      // One write, one version step per wallet, however many movements it carries.
      expect(after.wallets.get(a.wallet)?.version).toBe((before.wallets.get(a.wallet)?.version ?? 0) + 1);
      expect(after.transactions.size).toBe(2);
      expect(await f.counts()).toEqual({ ledger: counts.ledger + 4, events: counts.events + 2 });
    });

    it('writes nothing and names the wallets when a version moved', async () => {
      const a = await party();
      const b = await party();
      const stale = await planOf([transfer(a.user, b.wallet, '10')], 'k-stale');
      expect(await f.store.write(await planOf([transfer(b.user, a.wallet, '1')]))).toEqual({
        kind: 'committed',
      });
      const counts = await f.counts();
      const result = await f.store.write(stale);
      expect(result).toEqual({ kind: 'conflict', reason: 'version', walletIds: expect.any(Array) });
      expect(result.kind === 'conflict' && [...result.walletIds].sort()).toEqual([a.wallet, b.wallet].sort());
      expect(await balance(a.wallet)).toBe('101.0000');
      expect((await read({ transactionIds: [stale.inserts[0].id] })).transactions.size).toBe(0);
      expect((await read({ keys: [{ caller: a.user, key: 'k-stale' }] })).idempotency.size).toBe(0);
      expect(await f.counts()).toEqual(counts);
    });

    it('is a version conflict when a changed wallet requires its owner ACTIVE and they are not', async () => {
      const a = await party();
      const b = await party();
      const plan = await planOf([transfer(a.user, b.wallet, '10')]);
      await f.setUserStatus(b.user, 'SUSPENDED');
      expect(await f.store.write(plan)).toEqual({
        kind: 'conflict',
        reason: 'version',
        walletIds: [b.wallet],
      });
      expect(await balance(a.wallet)).toBe('100.0000');
    });

    it('is a settled conflict when a hold is no longer PENDING, or a refund finds another refunded amount', async () => {
      const a = await party();
      const b = await party();
      const hold = await planOf([transfer(a.user, b.wallet, '10', true)]);
      expect(await f.store.write(hold)).toEqual({ kind: 'committed' });
      const holdId = hold.inserts[0].id;
      const capture = await planOf([{ kind: 'capture', caller: { id: b.user }, transactionId: holdId }]);
      const voided = await planOf([{ kind: 'void', caller: { id: b.user }, transactionId: holdId }]);
      expect(await f.store.write(capture)).toEqual({ kind: 'committed' });
      // The void saw the hold PENDING; its wallet version moved too, so make that the one check that fails.
      voided.wallets = [];
      expect(await f.store.write(voided)).toEqual({ kind: 'conflict', reason: 'settled', walletIds: [] });

      const pay = await planOf([transfer(a.user, b.wallet, '20')]);
      expect(await f.store.write(pay)).toEqual({ kind: 'committed' });
      const refund = (amount: string): Movement => ({
        kind: 'refund',
        caller: { id: b.user },
        transactionId: pay.inserts[0].id,
        amount: Money.parse(amount),
      });
      const first = await planOf([refund('5')]);
      const second = await planOf([refund('15')]);
      expect(await f.store.write(first)).toEqual({ kind: 'committed' });
      second.wallets = [];
      second.ledger = [];
      expect(await f.store.write(second)).toEqual({ kind: 'conflict', reason: 'settled', walletIds: [] });
    });

    it('is an actor conflict when a user who must be ACTIVE, or an admin, no longer is', async () => {
      const a = await party();
      const deposit: Movement = {
        kind: 'deposit',
        caller: { id: admin },
        walletId: a.wallet,
        amount: Money.parse('1'),
        currency: 'USD',
      };
      const plan = await planOf([deposit]);
      await f.setUserStatus(admin, 'SUSPENDED');
      try {
        expect(await f.store.write(plan)).toEqual({ kind: 'conflict', reason: 'actor', walletIds: [] });
      } finally {
        await f.setUserStatus(admin, 'ACTIVE');
      }
      const notAdmin = { ...plan, mustBeAdmin: [a.user], mustBeActive: [a.user] };
      expect(await f.store.write(notAdmin)).toEqual({ kind: 'conflict', reason: 'actor', walletIds: [] });
      expect(await balance(a.wallet)).toBe('100.0000');
    });

    it('checks versions before settlements, and settlements before actors', async () => {
      const a = await party();
      const b = await party();
      const hold = await planOf([transfer(a.user, b.wallet, '10', true)]);
      await f.store.write(hold);
      const capture = await planOf([
        { kind: 'capture', caller: { id: b.user }, transactionId: hold.inserts[0].id },
      ]);
      expect(
        await f.store.write(
          await planOf([{ kind: 'void', caller: { id: b.user }, transactionId: hold.inserts[0].id }]),
        ),
      ).toEqual({ kind: 'committed' });
      await f.setUserStatus(b.user, 'CLOSED');
      const result = await f.store.write(capture);
      expect(result).toMatchObject({ kind: 'conflict', reason: 'version' });
      expect(await f.store.write({ ...capture, wallets: [] })).toMatchObject({ reason: 'settled' });
    });

    it('keeps one response per key: a second write of a key already stored is a duplicate, nothing written', async () => {
      const a = await party();
      const b = await party();
      const first = await planOf([transfer(a.user, b.wallet, '10')], 'k-dup');
      const second = await planOf([transfer(a.user, b.wallet, '20')], 'k-dup');
      expect(await f.store.write(first)).toEqual({ kind: 'committed' });
      second.wallets = second.wallets.map((w) => ({ ...w, version: w.version + 1 }));
      expect(await f.store.write(second)).toEqual({ kind: 'conflict', reason: 'duplicate', walletIds: [] });
      expect(await balance(a.wallet)).toBe('90.0000');
    });

    it('throws, writing nothing, when the plan would break a data rule (a negative balance)', async () => {
      const a = await party();
      const b = await party();
      const plan = await planOf([transfer(a.user, b.wallet, '10')]);
      plan.wallets = plan.wallets.map((w) =>
        w.id === a.wallet ? { ...w, balance: Money.parse('500').neg() } : w,
      );
      await expect(f.store.write(plan)).rejects.toThrow();
      expect(await balance(a.wallet)).toBe('100.0000');
    });

    it('makes a write on a wallet a locked session holds wait until the session ends', async () => {
      const a = await party();
      const b = await party();
      const outside = await planOf([transfer(a.user, b.wallet, '10')]);
      const inside = await planOf([transfer(b.user, a.wallet, '1')]);
      const waitersBefore = await f.lockWaiters();
      let outsideResult: Promise<unknown> | undefined;
      const sessionResult = await f.store.locked(async (session) => {
        await session.lockWallets([b.wallet, a.wallet]);
        outsideResult = f.store.write(outside);
        for (let i = 0; i < 200 && (await f.lockWaiters()) <= waitersBefore; i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
        expect(await f.lockWaiters()).toBe(waitersBefore + 1);
        return session.write(inside);
      });
      expect(sessionResult).toEqual({ kind: 'committed' });
      // The outside write saw the versions before the session's: it waited, then found them moved.
      expect(await outsideResult).toMatchObject({ kind: 'conflict', reason: 'version' });
      expect(await balance(a.wallet)).toBe('101.0000');
    });
  });
}
