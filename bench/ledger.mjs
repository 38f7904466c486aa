// Contract v1.1's ledger reads on the long statement of seeding.mjs (seedStatement), with no other load:
// - the CSV export (issue 14): the whole statement with `Accept: text/csv`, streamed and counted (a wrong
//   line count fails the bench), rows per second, and the service's RSS around it (target: growth < 50 MB);
// - the point-in-time balance at several depths, each checked once against the seed's running balance (a
//   wrong balance fails the bench), then driven by autocannon (target: p99 < 10 ms at every depth).
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { countRefusal, latencyOf } from './load.mjs';

export const CSV_RSS_TARGET_MB = 50;
export const BALANCE_P99_TARGET_MS = 10;
const RSS_SAMPLE_MS = 50;
const QUIET_MS = 500; // RSS sampled this long before and after the export

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length ? s[Math.floor(s.length / 2)] : 0;
};
const mb = (x) => +x.toFixed(1);

/**
 * GET /api/v1/wallets/me/transactions with `Accept: text/csv` as the statement's owner, the body read as
 * it streams, its lines counted (a header and one per entry expected), the service's VmRSS sampled every
 * 50 ms before, during and after. Baseline: the median before; peak: the highest during and after.
 */
export async function csvExport({ base, service }, { reader, entries }) {
  const samples = [];
  const t0 = performance.now();
  const sample = () => samples.push({ ms: performance.now() - t0, mb: service.rssMb() });
  sample();
  const timer = setInterval(sample, RSS_SAMPLE_MS);
  await sleep(QUIET_MS);
  const started = performance.now() - t0;
  let status = 0;
  let contentType = '';
  let lines = 0;
  let bytes = 0;
  let firstByteMs = null;
  let header = '';
  let error = null;
  try {
    const res = await fetch(`${base}/api/v1/wallets/me/transactions`, {
      headers: { accept: 'text/csv', authorization: `Bearer ${reader.token}` },
    });
    status = res.status;
    contentType = res.headers.get('content-type') ?? '';
    for await (const chunk of res.body) {
      firstByteMs ??= performance.now() - t0 - started;
      if (!header) header = Buffer.from(chunk.subarray(0, 400)).toString().split('\r\n')[0];
      bytes += chunk.length;
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines += 1;
    }
  } catch (err) {
    error = String(err);
  }
  const ended = performance.now() - t0;
  await sleep(QUIET_MS);
  clearInterval(timer);
  sample();
  const seconds = (ended - started) / 1000;
  const baseline = median(samples.filter((x) => x.ms < started).map((x) => x.mb));
  const peak = Math.max(...samples.filter((x) => x.ms >= started).map((x) => x.mb));
  const expectedLines = entries + 1;
  const failures = [];
  if (status !== 200 || error) failures.push(`CSV export answered ${status}${error ? ` (${error})` : ''}`);
  else if (lines !== expectedLines)
    failures.push(`CSV export: ${lines} lines, expected ${expectedLines} (a header and ${entries} entries)`);
  return {
    entries,
    status,
    contentType,
    header,
    lines,
    expectedLines,
    bytes,
    seconds: +seconds.toFixed(3),
    firstByteMs: firstByteMs === null ? null : Math.round(firstByteMs),
    rowsPerSecond: Math.round(Math.max(0, lines - 1) / seconds),
    mbPerSecond: +(bytes / 2 ** 20 / seconds).toFixed(1),
    rss: {
      baselineMb: mb(baseline),
      peakMb: mb(peak),
      growthMb: mb(Math.max(0, peak - baseline)),
      afterMb: mb(samples.at(-1).mb),
      samples: samples.length,
      samplesDuringExport: samples.filter((x) => x.ms >= started && x.ms <= ended).length,
    },
    target: CSV_RSS_TARGET_MB,
    failures,
  };
}

/** "12.3400" for k cents: the running balance after the k-th deposit of 0.01 (4 decimals, as the API writes money). */
const cents = (k) => `${Math.floor(k / 100)}.${String(k % 100).padStart(2, '0')}00`;

/**
 * The instants to ask the balance at: the created_at of the newest entry, of the entries 1%, 50% and 99%
 * of the way back, of the oldest, and a second before the oldest; with the balance the seed says each has.
 */
async function depths(q, { reader, entries }) {
  const back = [
    ['newest entry', 0],
    ['1% deep', Math.round(0.01 * (entries - 1))],
    ['50% deep', Math.round(0.5 * (entries - 1))],
    ['99% deep', Math.round(0.99 * (entries - 1))],
    ['oldest entry', entries - 1],
  ];
  const out = [];
  for (const [label, offset] of back) {
    const [row] = await q(
      `SELECT created_at FROM ledger_entries WHERE wallet_id = $1 ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1`,
      [reader.wallet, offset],
    );
    out.push({
      label,
      entriesNewer: offset,
      at: row.created_at.toISOString(),
      expected: cents(entries - offset),
    });
  }
  const oldest = new Date(out.at(-1).at).getTime();
  out.push({
    label: 'before the first entry',
    entriesNewer: entries,
    at: new Date(oldest - 1000).toISOString(),
    expected: '0.0000',
  });
  return out;
}

/**
 * GET /api/v1/wallets/me/balance?at= at each depth: once, checked against the seed's running balance,
 * then on `connections` connections for `duration` s (autocannon, closed loop), after a second's warm-up.
 */
export async function balanceAtDepths({ base, q }, statement, { connections, duration }) {
  const headers = { authorization: `Bearer ${statement.reader.token}` };
  const failures = [];
  const rows = [];
  const at = await depths(q, statement);
  const pathAt = (instant) => `/api/v1/wallets/me/balance?at=${encodeURIComponent(instant)}`;
  // Warm-up (not recorded): the route's first requests (JIT, prepared plans) would land in the first depth.
  await autocannon({
    url: base,
    connections,
    duration: 1,
    requests: [{ method: 'GET', path: pathAt(at[0].at), headers }],
  });
  for (const d of at) {
    const path = pathAt(d.at);
    const check = await fetch(`${base}${path}`, { headers }).then(
      async (r) => ({ status: r.status, body: await r.json().catch(() => null) }),
      (err) => ({ status: 0, body: String(err) }),
    );
    const answer = check.body?.balance ?? null;
    const correct = check.status === 200 && answer === d.expected;
    if (!correct) {
      failures.push(
        `balance at ${d.at} (${d.label}): ${check.status} ${JSON.stringify(check.body)}, expected ${d.expected}`,
      );
    }
    const refused = {};
    const r = await autocannon({
      url: base,
      connections,
      duration,
      requests: [
        {
          method: 'GET',
          path,
          headers,
          onResponse: (status, body) => {
            if (status !== 200) countRefusal(refused, status, body);
          },
        },
      ],
    });
    rows.push({
      ...d,
      answer,
      correct,
      requestsPerSecond: Math.round(r.requests.average),
      latencyMs: latencyOf(r),
      refused,
      errors: r.errors + r.timeouts,
    });
  }
  const worst = rows.reduce((x, y) => (y.latencyMs.p99 > x.latencyMs.p99 ? y : x));
  return {
    entries: statement.entries,
    connections,
    seconds: duration,
    depths: rows,
    worstP99: { ms: worst.latencyMs.p99, depth: worst.label },
    target: BALANCE_P99_TARGET_MS,
    failures,
  };
}
