import { Logger } from '@nestjs/common';
import { PLANTED_BUGS, type PlantedBug } from '../../src/simulator/planted-bugs';
import { historyOf, runHistory, shrink } from '../../src/simulator/run';

// The deterministic simulator (npm run simulate): a run is a function of its seed, it passes on the real
// store, and it catches every bug planted in a store variant (src/simulator/planted-bugs.ts).
describe('the simulator', () => {
  const rate = { steps: 0, ms: 0 };
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => {
    // Not an assertion (no timing is): the figure for the report.
    process.stdout.write(`simulator: ${Math.round((rate.steps / rate.ms) * 1000)} steps/s\n`);
  });
  const timed = async (seed: number, steps: number, bug?: PlantedBug) => {
    const started = Date.now();
    const r = await runHistory(seed, historyOf(seed, steps), bug);
    rate.steps += r.steps;
    rate.ms += Date.now() - started;
    return r;
  };

  it('gives the same final state for the same seed, and another for another seed', async () => {
    const [a, b, c] = [await timed(3, 800), await timed(3, 800), await timed(4, 800)];
    expect([a.violation, b.violation, c.violation]).toEqual([undefined, undefined, undefined]);
    expect(a.hash).toBe(b.hash);
    expect(c.hash).not.toBe(a.hash);
    // Something happened: money moved, under faults, through both instances.
    expect(a.transactions).toBeGreaterThan(50);
    expect(a.events).toBeGreaterThan(a.transactions);
  });

  it.each(Object.keys(PLANTED_BUGS) as PlantedBug[])('catches the planted bug %s', async (bug) => {
    let caught: Awaited<ReturnType<typeof timed>> | undefined;
    for (let seed = 1; seed <= 8 && !caught; seed++) {
      const r = await timed(seed, 3000, bug);
      if (r.violation) caught = r;
    }
    expect(caught?.violation).toEqual(expect.any(String));
    // A failing seed replays exactly: the same history breaks the same way, to the same state.
    const again = await runHistory(caught?.seed ?? 0, caught?.history ?? [], bug);
    expect([again.violation, again.hash]).toEqual([caught?.violation, caught?.hash]);
  });

  it('shrinks a failing history to a shorter one that still fails', async () => {
    const r = await timed(1, 1000, 'sequence-gap');
    expect(r.violation).toBeDefined();
    const shortest = await shrink(1, r.history, 'sequence-gap');
    expect(shortest.length).toBeLessThan(r.history.length);
    expect((await runHistory(1, shortest, 'sequence-gap')).violation).toBeDefined();
    expect((await runHistory(1, shortest)).violation).toBeUndefined();
  });
});
