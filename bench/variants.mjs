// Scenarios with one setting toggled: the same closed-loop uniform transfers against the bench's own
// instance (the setting as the README defaults it) and against a second instance of the same build on the
// same database started with the variant's environment, each preceded by a warm-up, with transfers/s and
// CPU per transfer of each instance and of PostgreSQL. The ratio is variant / default.
//
// The bench's own instance stays up (idle) while the variant's runs: a variant that turns background work
// off measures what the instance saves, while the idle one still does that work on the database.
//
// To add one, append to VARIANTS: { name, label, env } (env: the variables given to the second instance),
// optionally `target` (the least acceptable ratio, printed met or missed, never asserted). It runs in every
// full run and (short) in --quick.
import { distribution } from './distributions.mjs';
import { transferLoad } from './load.mjs';
import { log } from './report.mjs';
import { startInstance } from './service.mjs';

export const VARIANTS = [];

/** One variant: default instance, then the variant's instance, the same load on each. */
export async function runVariant(ctx, o, variant) {
  const d = distribution(`uniform-${o.wallets}`, o.wallets);
  const measure = async (base, cpuSeconds) => {
    await transferLoad({ base, users: ctx.users }, d, {
      connections: o.connections,
      duration: o.warmupSeconds,
    });
    const cpu0 = cpuSeconds();
    const pg0 = ctx.service.postgresCpuSeconds();
    const r = await transferLoad({ base, users: ctx.users }, d, {
      connections: o.connections,
      duration: o.seconds,
    });
    const per = (seconds) =>
      seconds === null || !r.transfers ? null : +((seconds * 1000) / r.transfers).toFixed(3);
    return {
      transfersPerSecond: Math.round(r.transfers / r.seconds),
      latencyMs: r.latencyMs,
      cpuMsPerTransfer: {
        service: per(cpuSeconds() - cpu0),
        postgres: pg0 === null ? null : per(ctx.service.postgresCpuSeconds() - pg0),
      },
      refused: r.refused,
      errors: r.errors,
    };
  };
  log(`variant ${variant.name}: default instance`);
  const base = await measure(ctx.base, ctx.service.cpuSeconds);
  const instance = await startInstance(ctx.db, variant.env);
  let toggled;
  try {
    log(`variant ${variant.name}: instance with ${JSON.stringify(variant.env)}`);
    toggled = await measure(instance.base, instance.cpuSeconds);
  } finally {
    const code = await instance.stop();
    if (code !== 0)
      log(`variant ${variant.name}: instance exited with ${code}`, instance.output().slice(-2000));
  }
  const r = {
    name: variant.name,
    label: variant.label,
    env: variant.env,
    target: variant.target ?? null,
    default: base,
    variant: toggled,
    ratio: +(toggled.transfersPerSecond / Math.max(1, base.transfersPerSecond)).toFixed(2),
  };
  log(
    `variant ${variant.name}`,
    JSON.stringify({ ratio: r.ratio, default: base.cpuMsPerTransfer, variant: toggled.cpuMsPerTransfer }),
  );
  return r;
}
