import { randomUUID } from 'node:crypto';

/**
 * Where the engine takes time, timers, new ids and randomness from. In production: the system's. The
 * simulator (src/simulator/) injects a fake clock and a seeded PRNG, so that one seed gives one run.
 */
export interface EngineClock {
  /** Milliseconds since the epoch. */
  now(): number;
  newId(): string;
  /** A number in [0, 1), as Math.random. */
  random(): number;
  /** Calls `fn` after `ms`; `background` timers do not keep the process alive. */
  setTimer(ms: number, fn: () => void, background?: boolean): Timer;
}

export interface Timer {
  cancel(): void;
}

/** The injection token of the engine's clock; without one, the system's. */
export const ENGINE_CLOCK = Symbol('EngineClock');

export const SYSTEM_CLOCK: EngineClock = {
  now: () => Date.now(),
  newId: randomUUID,
  random: Math.random,
  setTimer(ms, fn, background = false) {
    const handle = setTimeout(fn, ms);
    if (background) handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

export function sleep(clock: EngineClock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimer(ms, resolve));
}
