import { MemoryStore } from '../../src/transfers/engine/memory-store';
import { engineStoreContract } from '../support/engine-store.contract';

// The in-memory store (unit tests, the simulator) against the engine store's contract; the same suite
// runs on PostgreSQL in test/integration/engine-store.contract.spec.ts.
engineStoreContract('memory', async () => {
  const store = new MemoryStore();
  return {
    store,
    addUser: async (id, role = 'USER') => store.addUser(id, role),
    addWallet: async (id, userId, currency) => store.addWallet(id, userId, currency),
    setUserStatus: async (id, status) => store.setUserStatus(id, status),
    counts: async () => ({ ledger: store.ledger.length, events: store.events.length }),
    lockWaiters: async () => store.lockWaiters(),
    close: async () => undefined,
  };
});
