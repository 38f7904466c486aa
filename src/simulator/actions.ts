import type { Fault } from './gated-store';
import { FAULTS } from './gated-store';
import type { Prng } from './prng';

/** Users with a wallet (the last one's in EUR), and service instances over the one store. */
export const CLIENTS = 5;
export const INSTANCES = 2;

/** What a client asks for; wallets are named by client index, holds and transfers by a pick among theirs. */
export type RequestSpec =
  | { kind: 'transfer'; to: number; amount: string; hold: boolean }
  | { kind: 'batch'; atomic: boolean; items: Array<{ to: number; amount: string }> }
  | { kind: 'deposit'; to: number; amount: string }
  | { kind: 'withdrawal'; amount: string }
  | { kind: 'refund'; pick: number; amount?: string }
  | { kind: 'capture'; pick: number }
  | { kind: 'void'; pick: number };

/**
 * One step of a history. Picks are taken modulo what exists when the step runs, so any sub-history
 * (shrinking removes steps) still runs.
 */
export type Action =
  | { t: 'send'; client: number; instance: number; spec: RequestSpec }
  | { t: 'retry'; client: number; instance: number; pick: number }
  | { t: 'land'; pick: number; fault: Fault }
  | { t: 'timer' }
  | { t: 'expire'; instance: number; seconds: number }
  | { t: 'crash'; instance: number }
  | { t: 'status'; client: number; status: 'ACTIVE' | 'SUSPENDED' };

const AMOUNTS = ['1', '2.5', '5', '10', '20', '40', '0.0001'];

function spec(p: Prng): RequestSpec {
  const to = p.int(CLIENTS);
  const amount = p.pick(AMOUNTS);
  const roll = p.int(100);
  if (roll < 30) return { kind: 'transfer', to, amount, hold: false };
  if (roll < 42) return { kind: 'transfer', to, amount, hold: true };
  if (roll < 52) {
    const items = Array.from({ length: 1 + p.int(4) }, () => ({
      to: p.int(CLIENTS),
      amount: p.pick(AMOUNTS),
    }));
    return { kind: 'batch', atomic: p.chance(0.5), items };
  }
  if (roll < 67) return { kind: 'deposit', to, amount: p.pick(['50', '100', '7.5']) };
  if (roll < 74) return { kind: 'withdrawal', amount };
  if (roll < 84) return { kind: 'refund', pick: p.int(8), amount: p.chance(0.5) ? amount : undefined };
  if (roll < 93) return { kind: 'capture', pick: p.int(8) };
  return { kind: 'void', pick: p.int(8) };
}

/** The scheduler's next choice: land a store call (now and then with a fault), a client acts, time moves. */
export function nextAction(p: Prng): Action {
  const roll = p.int(1000);
  const instance = p.int(INSTANCES);
  const client = p.int(CLIENTS);
  if (roll < 450) return { t: 'land', pick: p.int(64), fault: 'none' };
  if (roll < 500) return { t: 'land', pick: p.int(64), fault: p.pick(FAULTS) };
  if (roll < 740) return { t: 'send', client, instance, spec: spec(p) };
  if (roll < 820) return { t: 'retry', client, instance, pick: p.int(1 << 20) };
  if (roll < 940) return { t: 'timer' };
  if (roll < 970) return { t: 'expire', instance, seconds: p.pick([1, 30, 300, 900]) };
  if (roll < 990) return { t: 'status', client, status: p.chance(0.5) ? 'SUSPENDED' : 'ACTIVE' };
  return { t: 'crash', instance };
}

export type { Fault };
