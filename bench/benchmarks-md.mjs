// BENCHMARKS.md from the last full run on each server: each full run saves its figures in
// bench/results/<server>.json, then the whole file and its charts are written again from every saved run,
// so a run on one server keeps the other's figures (each with its own date and commit).
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { writeCharts } from './charts.mjs';
import { transferBudgets } from './counts.mjs';
import { renderRun, targets } from './report.mjs';

const RESULTS_DIR = 'bench/results';

/** The key of a run's file: 'embedded', or the external server's host and port. */
export const serverKey = (external, db) => (external ? `${db.host}-${db.port}` : 'embedded');

export function saveRun(run) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(`${RESULTS_DIR}/${run.key}.json`, `${JSON.stringify(run, null, 2)}\n`);
}

const LEDGER_DIR = `${RESULTS_DIR}/verifiable-ledger`;

/**
 * bench/verifiable-ledger.mjs's figures on a server (it needs an external one): the half that ran
 * (transfers and the appender, or proofs; each with its own date, commit and load) replaces its half.
 */
export function saveLedgerRun(db, { options, transfers, proofs }) {
  mkdirSync(LEDGER_DIR, { recursive: true });
  const key = serverKey(true, db);
  const file = `${LEDGER_DIR}/${key}.json`;
  const old = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  const version = transfers?.serverVersion ?? proofs?.serverVersion;
  const record = {
    key,
    label: `${db.host}:${db.port} (${version})`,
    external: true,
    db,
    options,
    results: { transfers: transfers ?? old.results?.transfers, proofs: proofs ?? old.results?.proofs },
  };
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
}

function loadLedgerRuns() {
  if (!existsSync(LEDGER_DIR)) return [];
  return readdirSync(LEDGER_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(`${LEDGER_DIR}/${f}`, 'utf8')));
}

const stamped = (x) =>
  `${x.date?.slice(0, 16).replace('T', ' ')} UTC, commit ${x.commit}, load average ${x.loadAverage}`;

/** The "Verifiable ledger" section: issue 25's cost targets, from bench/verifiable-ledger.mjs. */
export function renderLedger(runs) {
  if (runs.length === 0) return 'Not measured yet (`node bench/verifiable-ledger.mjs`, full run).';
  return runs
    .map((run) => {
      const t = run.results.transfers;
      const p = run.results.proofs;
      const out = [`### ${run.label}`, ''];
      if (t) {
        const tp = t.transfersPerSecond;
        const cpu = tp.serviceCpuMsPerTransfer;
        out.push(
          `Transfers and the appender (${stamped(t)}; ${run.options?.connections ?? 32} connections, ${run.options?.seconds ?? '?'} s a run${run.options?.quick ? ', quick run' : ''}):`,
          '',
          '| figure | value | target |',
          '|---|---|---|',
          `| rounds (each on a fresh instance) | ${(tp.rounds ?? ['off', 'on', 'off']).join(', ')} | |`,
          `| transfers/s, appender off | ${[tp.off].flat().join(' / ')} | |`,
          `| transfers/s, appender on (in the serving instance) | ${[tp.on].flat().join(' / ')} | |`,
          ...(tp.pairs
            ? [
                `| pairs of neighbouring rounds, on / off | ${tp.pairs.map((x) => x.ratio).join(', ')} | |`,
                `| on / off (median of the pairs) | **${tp.ratio}** (${tp.ratio >= tp.target ? 'met' : '**missed**'}) | >= ${tp.target} |`,
                `| on / off (means); CPU per transfer, off / on (median of the pairs) | ${tp.meanRatio}; ${tp.cpuRatio ?? 'n/a'} | |`,
              ]
            : [
                `| on / off (means) | **${tp.ratio}** (${tp.ratio >= tp.target ? 'met' : '**missed**'}) | >= ${tp.target} |`,
              ]),
          `| service CPU per transfer, ms: off; on | ${[cpu.off].flat().join(' / ')}; ${[cpu.on].flat().join(' / ')} | |`,
          ...(tp.postgresCpuMsPerTransfer
            ? [
                `| PostgreSQL CPU per transfer, ms: off; on | ${tp.postgresCpuMsPerTransfer.off.join(' / ')}; ${tp.postgresCpuMsPerTransfer.on.join(' / ')} | |`,
              ]
            : []),
          `| appender drain | ${t.appender.leavesPerSecond} leaves/s (${t.appender.backlogLeaves} leaves, ${t.appender.passes} passes) | above the peak transfer rate |`,
          `| commit to checkpoint, p50 / p99 / max | ${t.lagMs.p50} / ${t.lagMs.p99} / ${t.lagMs.max} ms (${t.lagMs.events} events) | a checkpoint at least once a second |`,
          '',
        );
      }
      if (p) {
        const names = Object.keys(Object.values(p.byConnections)[0] ?? {});
        const conns = Object.keys(p.byConnections);
        out.push(
          `Proofs at ${p.leaves.toLocaleString('en')} leaves (${stamped(p)}; target p99 < ${p.targetP99Ms} ms). Requests/s, and latency p50 / p99 / max in ms, by the same client on the same cores; \`live\` (GET /health/live) is the HTTP path alone, \`checkpoint\` one indexed read:`,
          '',
          `| request | ${conns.map((c) => `${c} connection${c === '1' ? '' : 's'}`).join(' | ')} |`,
          `|---|${conns.map(() => '---|').join('')}`,
          ...names.map(
            (n) =>
              `| ${n} | ${conns
                .map((c) => {
                  const r = p.byConnections[c][n];
                  const bad = Object.entries(r.codes).filter(([code]) => code !== '200');
                  return `${r.perSecond}/s, ${r.latencyMs.p50} / **${r.latencyMs.p99}** / ${r.latencyMs.max}${bad.length ? ` (${bad.map(([code, k]) => `${k}× ${code}`).join(', ')})` : ''}`;
                })
                .join(' | ')} |`,
          ),
          '',
        );
      }
      return out.join('\n');
    })
    .join('\n');
}

function loadRuns() {
  if (!existsSync(RESULTS_DIR)) return [];
  return readdirSync(RESULTS_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(`${RESULTS_DIR}/${f}`, 'utf8')))
    .sort((a, b) => (a.external === b.external ? a.key.localeCompare(b.key) : a.external ? 1 : -1));
}

const fixed = (x, digits = 2) =>
  x === null || x === undefined || Number.isNaN(x) ? null : +x.toFixed(digits);

/** Issue 22's targets for one run: [name, figure, met (null when not measured)]. */
export function issue22Targets(run) {
  const r = run.results;
  const u = r.scenarios[0];
  const hot = r.scenarios.find((s) => s.name === 'hotspot');
  const uniformTarget = run.external ? 0.5 : 1.0;
  const hotTarget = run.external ? 0.8 : 2.0;
  const batchOfCeiling =
    r.batch?.available && r.ceiling
      ? fixed(r.batch.service.transfersPerSecond / r.ceiling.transfersPerSecond)
      : null;
  const t = (name, figure, ok, unit = '') => [
    name,
    figure === null || figure === undefined ? 'n/a' : `${figure}${unit}`,
    figure === null || figure === undefined ? null : ok(figure),
  ];
  return [
    t('CPU per transfer, service <= 0.25 ms', u.service.cpuMsPerTransfer.service, (x) => x <= 0.25, ' ms'),
    t('CPU per transfer, PostgreSQL <= 0.20 ms', u.service.cpuMsPerTransfer.postgres, (x) => x <= 0.2, ' ms'),
    t(`uniform >= ${uniformTarget.toFixed(1)}x pgbench per request`, u.ratio, (x) => x >= uniformTarget, 'x'),
    t(`hot-spot >= ${hotTarget.toFixed(1)}x pgbench per request`, hot?.ratio, (x) => x >= hotTarget, 'x'),
    t('batch API >= 0.5 of the set-based ceiling', batchOfCeiling, (x) => x >= 0.5),
    t('relay on / off >= 0.9', r.events?.ratioNatsOnly, (x) => x >= 0.9),
    t('relay + one webhook / off >= 0.85', r.events?.ratio, (x) => x >= 0.85),
    t("p99 < 50 ms at half the service's peak (uniform)", u.paced.latencyMs.p99, (x) => x < 50, ' ms'),
    t('peak RSS < 300 MB', r.peakRssMb, (x) => x < 300, ' MB'),
  ];
}

/** A limits run's CPU per transfer, service + PostgreSQL (ms), or n/a where either was not read. */
const cpuMs = (r) =>
  r.cpuMsPerTransfer?.service == null || r.cpuMsPerTransfer?.postgres == null
    ? 'n/a'
    : (r.cpuMsPerTransfer.service + r.cpuMsPerTransfer.postgres).toFixed(2);

const mark = (met) => (met === null ? 'not measured' : met ? 'met' : '**missed**');

/** Where the time goes, for each target a run missed: from the run's own profile and statements. */
function whereTheTimeGoes(run) {
  const r = run.results;
  const u = r.scenarios[0];
  const cpu = u.service.cpuMsPerTransfer;
  const areas = Object.entries(run.byArea?.msPerTransfer ?? {})
    .sort((a, b) => b[1] - a[1])
    .slice(0, 4)
    .map(([area, ms]) => `${area} ${ms} ms`)
    .join(', ');
  const top = (u.service.database?.top ?? [])
    .slice(0, 3)
    .map((x) => `\`${x.query.slice(0, 60)}…\` ${x.meanMs} ms × ${x.calls}`)
    .join('; ');
  const out = [];
  for (const [name, figure, met] of issue22Targets(run)) {
    if (met !== false) continue;
    let why;
    if (name.includes('service <='))
      why = `the service's busiest areas per transfer: ${areas || 'no profile in this run'}.`;
    else if (name.includes('PostgreSQL <=')) {
      why = `PostgreSQL's CPU per transfer against pgbench's for the same SQL in the same run: ${cpu.postgres} against ${u.limit?.postgresCpuMsPerTransfer ?? 'n/a'} ms; ${
        top
          ? `its heaviest statements for the service: ${top}`
          : 'pg_stat_statements is not loaded on this server, so no statement breakdown'
      }; counts per transfer: ${JSON.stringify(r.counts?.perTransfer ?? {})}.`;
    } else if (name.includes('pgbench per request') || name.includes('ceiling')) {
      why = `both cores are shared by the load generator, the service and PostgreSQL: the service spends ${cpu.service} ms and PostgreSQL ${cpu.postgres ?? 'n/a'} ms of CPU per transfer, the load generator ${cpu.loadGenerator} ms; pgbench's transfer costs PostgreSQL ${u.limit?.postgresCpuMsPerTransfer ?? 'n/a'} ms and pgbench itself ${u.limit?.pgbenchCpuMsPerTransfer ?? 'n/a'} ms. The service's busiest areas: ${areas || 'n/a'}.`;
    } else if (name.includes('relay')) {
      why = `the relay instance's CPU per transfer: ${JSON.stringify({ off: r.events?.offBefore?.serviceCpuMsPerTransfer, nats: r.events?.nats?.serviceCpuMsPerTransfer, webhook: r.events?.natsAndWebhook?.serviceCpuMsPerTransfer })} ms.`;
    } else if (name.includes('p99')) {
      why = `latency at ${u.paced.offeredRate}/s: p50 ${u.paced.latencyMs.p50}, p90 ${u.paced.latencyMs.p90}, max ${u.paced.latencyMs.max} ms, with the load generator on the same two cores.`;
    } else {
      why = 'see the run section below.';
    }
    out.push(`- ${run.label}: ${name} (${figure}): ${why}`);
  }
  return out;
}

export async function writeBenchmarks() {
  const runs = loadRuns();
  const charts = await writeCharts(
    runs.map((run) => ({ server: run.label, results: run.results, byArea: run.byArea })),
  );
  const header = `| target | ${runs.map((x) => x.label).join(' | ')} |\n|---|${runs.map(() => '---|').join('')}`;
  const targetRows = issue22Targets(runs[0]).map((row, i) => {
    const cells = runs.map((run) => {
      const [, figure, met] = issue22Targets(run)[i];
      return `${figure} (${mark(met)})`;
    });
    return `| ${row[0].replace(/pgbench per request/, 'pgbench per request (external / embedded targets differ)')} | ${cells.join(' | ')} |`;
  });
  const areaNames = [...new Set(runs.flatMap((x) => Object.keys(x.byArea?.msPerTransfer ?? {})))].sort(
    (a, b) =>
      Math.max(...runs.map((x) => x.byArea?.msPerTransfer?.[b] ?? 0)) -
      Math.max(...runs.map((x) => x.byArea?.msPerTransfer?.[a] ?? 0)),
  );
  const areaRows = areaNames.map(
    (a) =>
      `| ${a} | ${runs.map((x) => `${x.byArea?.msPerTransfer?.[a] ?? 'n/a'} (${x.byArea?.shares?.[a] === undefined ? 'n/a' : `${Math.round(x.byArea.shares[a] * 100)}%`})`).join(' | ')} |`,
  );
  const budgets = transferBudgets();
  const countNames = ['statements', 'transactions', 'tuplesRead', 'rowsWritten', 'walBytes'];
  const countRows = countNames.map(
    (n) =>
      `| ${n} | ${runs.map((x) => x.results.counts?.perTransfer?.[n] ?? 'n/a').join(' | ')} | ${budgets[n] ?? ''} |`,
  );
  const idleRows = runs.map(
    (x) =>
      `| ${x.label} | ${x.results.counts?.idle?.statementsPerSecond ?? 'n/a'} | ${x.results.counts?.idle?.transactionsPerSecond ?? 'n/a'} | ${x.results.counts?.idle?.tuplesReadPerSecond ?? 'n/a'} |`,
  );
  const variantRows = runs.flatMap((x) =>
    (x.results.variants ?? []).map(
      (v) =>
        `| ${x.label} | ${v.label} (\`${Object.entries(v.env)
          .map(([k, val]) => `${k}=${val}`)
          .join(
            ' ',
          )}\`) | ${v.default.transfersPerSecond} | ${v.variant.transfersPerSecond} | **${v.ratio}** | ${v.default.cpuMsPerTransfer.service} / ${v.variant.cpuMsPerTransfer.service} | ${v.default.cpuMsPerTransfer.postgres ?? 'n/a'} / ${v.variant.cpuMsPerTransfer.postgres ?? 'n/a'} |`,
    ),
  );
  const missed = runs.flatMap(whereTheTimeGoes);
  const md = `# Benchmarks

Written by \`npm run bench\` (a full run) from the last full run on each server, kept in \`bench/results/\`;
\`npm run bench -- --quick\` (CI) prints its figures and checks the counts per transfer against
\`bench/budgets.json\`, and writes nothing. Every figure of a server comes from one run on one machine, with the
load generator, the service and PostgreSQL sharing its cores: compare the ratios, which are against pgbench
measured in the same run on the same database. Figures of different runs are not comparable.

The runs below were made with these commands, on a 2-core VM shared with other work (each run's load
average at its end is listed where recorded; on a busy machine both CPU per transfer and transfers per
second are inflated, by three to four times in the runs below, so rerun these on a quiet one):

\`\`\`sh
npm run bench                                                       # embedded PostgreSQL
POSTGRES_HOST=127.0.0.1 POSTGRES_PORT=5432 POSTGRES_USER=postgres npm run bench   # the machine's server
\`\`\`

${runs.map((x) => `- ${x.label}: ${x.results.date}, commit ${x.results.commit}; ${x.results.machine?.cpu ?? ''}, ${x.results.machine?.cores ?? '?'} cores${x.results.machine?.loadAverage ? `; load average ${x.results.machine.loadAverage}` : ''}${x.note ? `. ${x.note}` : ''}`).join('\n')}

## Issue 22's targets

The uniform scenario from a fresh database (${runs[0]?.options.wallets} wallets), in the same run as pgbench with the same SQL.
CPU per transfer: /proc/<pid>/stat of the service, and of PostgreSQL (the embedded server: every process of
it; the machine's server: the backends of the bench's database, sampled every 100 ms).

${header}
${targetRows.join('\n')}

${charts.map((f) => `![${f.split('/').pop().replace('.svg', '')}](${f})`).join('\n\n')}

## CPU per transfer by area of the profile

The service ran with \`--cpu-prof\` for the whole run; the samples of the uniform closed-loop scenario's
window are grouped by the file of the function they were in (self time; \`bench/profile-summary.mjs\` names the
areas), and each area's share of the main thread's busy time is applied to the service's CPU per transfer
measured in the same scenario. ms per transfer (share):

| area | ${runs.map((x) => x.label).join(' | ')} |
|---|${runs.map(() => '---|').join('')}
${areaRows.join('\n')}

## Where the time goes, for each target missed

${missed.length ? missed.join('\n') : 'No target missed.'}

## Counts per transfer (the guard)

One connection, ${runs[0]?.options.countedTransfers} uniform transfers (no write combines two), read from PostgreSQL's statistics after the
service has been quiet long enough for them to be published; the background an idle instance makes on its own
(measured just before) is taken out. \`npm run bench -- --quick\` fails when one is over its budget. Statements
come from pg_stat_statements (skipped where it is not loaded: transactions from pg_stat_database stand in);
WAL bytes from \`pg_current_wal_lsn()\` only where the bench has the server to itself (the embedded one).

| per transfer | ${runs.map((x) => x.label).join(' | ')} | budget |
|---|${runs.map(() => '---|').join('')}---|
${countRows.join('\n')}

## An idle instance's queries (issue 26)

Over ${runs[0]?.results.counts?.idle?.seconds ?? 5} s with no request, after everything the load left had settled:

| server | statements/s | transactions/s | tuples read/s |
|---|---|---|---|
${idleRows.join('\n')}

## Limits and monitors on every wallet (issue 24)

${
  runs.some((x) => x.results.limits?.results)
    ? `The same closed-loop load in cycles of four runs (bench/limits.mjs): without limits, twice with a DAILY limit
and a balance monitor on every wallet, without again. Each run is paired with its neighbour of the other kind,
and the ratio is the median of the pairs' ratios, with / without (target ${runs.find((x) => x.results.limits?.results).results.limits.target}),
so that a step in this VM's speed moves one pair, not the figure; the CPU ratio is the same in CPU per transfer
(service + PostgreSQL, without / with):

| server | scenario | runs, transfers/s (with limits in bold) | pairs, with / without | ratio | CPU ms per transfer, without / with (means) | CPU ratio |
|---|---|---|---|---|---|---|
${runs
  .flatMap((x) =>
    (x.results.limits?.results ?? [])
      .filter((l) => l.runs)
      .map(
        (l) =>
          `| ${x.label} | ${l.scenario} | ${l.runs.map((r) => (r.limits ? `**${r.transfersPerSecond}**` : r.transfersPerSecond)).join(', ')} | ${l.pairs.map((p) => p.ratio).join(', ')} | **${l.ratio}** | ${cpuMs(l.without)} / ${cpuMs(l.withLimits)} | ${l.cpuRatio ?? 'n/a'} |`,
      ),
  )
  .join('\n')}${
        runs.some((x) => x.results.limits?.counts)
          ? `

Counts per transfer (machine-independent, bench/counts.mjs) of ${runs.find((x) => x.results.limits?.counts).results.limits.counts.transfers} uniform transfers on one connection, without and with:

| server | | statements | transactions | tuples read | rows written | WAL bytes |
|---|---|---|---|---|---|---|
${runs
  .filter((x) => x.results.limits?.counts)
  .flatMap((x) =>
    ['without', 'withLimits'].map((k) => {
      const c = x.results.limits.counts[k];
      return `| ${x.label} | ${k === 'without' ? 'without' : 'with'} | ${c.statements ?? 'n/a'} | ${c.transactions} | ${c.tuplesRead} | ${c.rowsWritten} | ${c.walBytes ?? 'n/a'} |`;
    }),
  )
  .join('\n')}`
          : ''
      }`
    : `Not measured in these runs${runs
        .filter((x) => x.results.limits?.error)
        .map((x) => ` (${x.label}: ${x.results.limits.error})`)
        .join('')}.`
}

## Verifiable ledger (issue 25)

From \`bench/verifiable-ledger.mjs\` (its header says how each figure is taken), saved in
\`bench/results/verifiable-ledger/\`. The appender runs in the instance that serves the transfers.

${renderLedger(loadLedgerRuns())}

## Settings toggled

${
  variantRows.length
    ? `The same uniform load (${runs[0]?.options.connections} connections) against the bench's instance and against a second instance of the
same build on the same database with one setting changed (bench/variants.mjs):

| server | variant | default transfers/s | variant transfers/s | ratio | service CPU ms default / variant | PostgreSQL CPU ms default / variant |
|---|---|---|---|---|---|---|
${variantRows.join('\n')}`
    : 'None in these runs (bench/variants.mjs lists them).'
}

${runs
  .map(
    (x) => `## ${x.label}

${renderRun(x.results, targets(x.results), x.options, { external: x.external, db: x.db })}`,
  )
  .join('\n\n')}
`;
  writeFileSync('BENCHMARKS.md', md);
}

/** What a run saves: its options, results, server and profile by area. */
export function runRecord({ o, results, external, db, serverVersion, byArea, commit }) {
  return {
    key: serverKey(external, db),
    label: external ? `${db.host}:${db.port} (${serverVersion})` : `embedded (${serverVersion})`,
    external,
    db: { host: db.host, port: db.port },
    options: o,
    results: {
      ...results,
      commit,
      machine: {
        cpu: os.cpus()[0]?.model ?? 'unknown',
        cores: os.cpus().length,
        node: process.version,
        loadAverage: os
          .loadavg()
          .map((x) => x.toFixed(1))
          .join(' / '),
      },
    },
    byArea,
  };
}
