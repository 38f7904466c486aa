import type { EngineClock, Timer } from '../transfers/engine/engine-clock';
import { Prng } from './prng';

interface Pending {
  due: number;
  order: number;
  fn: () => void;
}

/**
 * The engine's clock in a simulation: time moves only when told to (a timer fires, or `advance`), ids
 * are counted, randomness comes from a seeded PRNG. Timers fire in due order, ties in the order set.
 */
export class FakeClock implements EngineClock {
  private time: number;
  private ids = 0;
  private order = 0;
  private readonly timers: Pending[] = [];
  private readonly prng: Prng;

  constructor(seed: number, start = Date.UTC(2026, 0, 1)) {
    this.time = start;
    this.prng = new Prng(seed ^ 0x5eed);
  }

  now(): number {
    return this.time;
  }

  /** A valid v4-shaped UUID, counted: runs with the same history make the same ids. */
  newId(): string {
    this.ids += 1;
    const hex = this.ids.toString(16).padStart(12, '0');
    return `00000000-0000-4000-8000-${hex}`;
  }

  random(): number {
    return this.prng.next();
  }

  setTimer(ms: number, fn: () => void): Timer {
    const timer: Pending = { due: this.time + Math.max(0, ms), order: this.order++, fn };
    this.timers.push(timer);
    return {
      cancel: () => {
        const i = this.timers.indexOf(timer);
        if (i >= 0) this.timers.splice(i, 1);
      },
    };
  }

  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Fires the earliest timer, moving time to it. False when none is set. */
  fireNext(): boolean {
    if (this.timers.length === 0) return false;
    let first = 0;
    for (let i = 1; i < this.timers.length; i++) {
      const t = this.timers[i];
      const f = this.timers[first];
      if (t.due < f.due || (t.due === f.due && t.order < f.order)) first = i;
    }
    const [timer] = this.timers.splice(first, 1);
    this.time = Math.max(this.time, timer.due);
    timer.fn();
    return true;
  }

  /** Moves time on without firing anything (timers now due fire on the next `fireNext`). */
  advance(ms: number): void {
    this.time += ms;
  }
}
