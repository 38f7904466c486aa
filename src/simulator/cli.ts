import { Logger } from '@nestjs/common';
import { describeAction, historyOf, runHistory, shrink } from './run';
import { PLANTED_BUGS, type PlantedBug } from './planted-bugs';

/**
 * npm run simulate -- --seed S --steps N [--seeds K] [--bug NAME]
 * Runs seeds S..S+K-1 (K = 1 by default), N steps each. Each seed's line names the seed, the steps and a
 * hash of the final state (the same seed gives the same line, always). On a broken invariant: the seed,
 * the step, the shortest failing history found, and exit code 1.
 */
export async function main(argv: string[]): Promise<number> {
  const arg = (name: string, fallback: string): string => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
  };
  const seed = Number(arg('seed', '1'));
  const steps = Number(arg('steps', '2000'));
  const seeds = Number(arg('seeds', '1'));
  const bug = arg('bug', '') as PlantedBug | '';
  if (bug && !(bug in PLANTED_BUGS)) {
    process.stderr.write(`unknown bug "${bug}": ${Object.keys(PLANTED_BUGS).join(', ')}\n`);
    return 2;
  }
  if (![seed, steps, seeds].every(Number.isInteger)) {
    process.stderr.write('usage: npm run simulate -- --seed S --steps N [--seeds K] [--bug NAME]\n');
    return 2;
  }
  // The engine logs a movement out of attempts; in a simulation that is an expected answer, not news.
  Logger.overrideLogger(false);
  const started = process.hrtime.bigint();
  let total = 0;
  const made = { transactions: 0, events: 0, landed: 0 };
  for (let s = seed; s < seed + seeds; s++) {
    const r = await runHistory(s, historyOf(s, steps), bug || undefined);
    total += r.steps;
    made.transactions += r.transactions;
    made.events += r.events;
    made.landed += r.landed;
    if (r.violation) {
      process.stdout.write(`seed ${s}: broken at step ${r.steps}: ${r.violation}\n`);
      const shortest = await shrink(s, r.history, bug || undefined);
      const again = await runHistory(s, shortest, bug || undefined);
      process.stdout.write(`shortest failing history (${shortest.length} steps): ${again.violation}\n`);
      for (const a of shortest) process.stdout.write(`  ${describeAction(a)}\n`);
      process.stdout.write(
        `replay: npm run simulate -- --seed ${s} --steps ${r.steps}${bug ? ` --bug ${bug}` : ''}\n`,
      );
      process.stdout.write(`seed=${s} steps=${r.steps} state=${r.hash} FAILED\n`);
      return 1;
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (s === seed + seeds - 1) {
      const rate = Math.round(total / seconds);
      const what = `${made.landed} store calls, ${made.transactions} transactions, ${made.events} events`;
      process.stderr.write(`${total} steps in ${seconds.toFixed(1)} s (${rate} steps/s): ${what}\n`);
    }
    process.stdout.write(`seed=${s} steps=${r.steps} state=${r.hash}\n`);
  }
  return 0;
}
