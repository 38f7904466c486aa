// Runs of a feature off and on in ABBA order (off, on, on, off, ...), each paired with its neighbour
// ((1,2), (3,4), ...): the figure is the median of the pairs' ratios, so that a step in this shared VM's
// speed moves one pair, not the figure. Used by bench/limits.mjs and bench/verifiable-ledger.mjs.

/** The median (the mean of the two middle values for an even count). */
export function median(xs) {
  const v = [...xs].sort((x, y) => x - y);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

/**
 * Each neighbouring pair's `ratio` (rate on / rate off) and `cpuRatio` (CPU per transfer off / on: null
 * when either is unknown), and the medians of both. `on(run)` says which side a run is on; `rate(run)` is
 * its transfers per second and `cpu(run)` its CPU ms per transfer (service and PostgreSQL) or null.
 */
export function pairedRatios(runs, { on, rate, cpu }) {
  const pairs = [];
  for (let i = 0; i + 1 < runs.length; i += 2) {
    const [off, with_] = on(runs[i]) ? [runs[i + 1], runs[i]] : [runs[i], runs[i + 1]];
    const [cOff, cOn] = [cpu(off), cpu(with_)];
    pairs.push({
      ratio: +(rate(with_) / Math.max(1, rate(off))).toFixed(3),
      cpuRatio: cOff === null || cOn === null ? null : +(cOff / cOn).toFixed(3),
    });
  }
  return {
    pairs,
    ratio: +median(pairs.map((p) => p.ratio)).toFixed(3),
    cpuRatio: pairs.some((p) => p.cpuRatio === null)
      ? null
      : +median(pairs.map((p) => p.cpuRatio)).toFixed(3),
  };
}
