// HTTP load generators. Closed loop (autocannon: each connection sends its next request when the last
// is answered) for peak rates; open loop (pacedLoad: requests due at a fixed rate whatever the service's
// speed) for latency at a given rate. Each returns what it counted; CPU and /metrics readings around a
// run are the scenario's business (scenarios.mjs).
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import autocannon from 'autocannon';
import { samplePair, sampleReceiver } from './distributions.mjs';

const AMOUNT = '0.0100';

const transferRequest = (users, d) => {
  const [a, b] = samplePair(d);
  return {
    token: users[a - 1].token,
    body: JSON.stringify({ toWalletId: users[b - 1].wallet, amount: AMOUNT, currency: 'USD' }),
  };
};

const headers = (token) => ({
  'content-type': 'application/json',
  authorization: `Bearer ${token}`,
  'idempotency-key': randomUUID(),
});

export const latencyOf = (r) => ({
  p50: r.latency.p50,
  p90: r.latency.p90,
  p99: r.latency.p99,
  max: r.latency.max,
});

/** Counts a refused response under "<status> <code>" (the problem-details code when the body has one). */
export function countRefusal(codes, status, body) {
  let code = '';
  try {
    code = JSON.parse(body).code ?? '';
  } catch {
    /* not JSON */
  }
  const key = `${status} ${code}`.trim();
  codes[key] = (codes[key] ?? 0) + 1;
}

/**
 * POST /api/v1/transfers on `connections` connections for `duration` s (or `amount` requests), pairs
 * drawn from `d`.
 */
export async function transferLoad({ base, users }, d, { connections, duration, amount }) {
  const refused = {};
  let transfers = 0;
  const result = await autocannon({
    url: base,
    connections,
    ...(amount ? { amount } : { duration }),
    requests: [
      {
        method: 'POST',
        path: '/api/v1/transfers',
        setupRequest: (req) => {
          const { token, body } = transferRequest(users, d);
          return { ...req, headers: headers(token), body };
        },
        onResponse: (status, body) => {
          if (status >= 200 && status < 300) transfers += 1;
          else countRefusal(refused, status, body);
        },
      },
    ],
  });
  return {
    transfers,
    requests: result.requests.total,
    seconds: amount ? result.duration : duration,
    latencyMs: latencyOf(result),
    refused,
    errors: result.errors + result.timeouts,
  };
}

const batchBody = (users, d, size) => {
  const [a] = samplePair(d);
  const transfers = Array.from({ length: size }, () => ({
    toWalletId: users[sampleReceiver(d, a) - 1].wallet,
    amount: AMOUNT,
    currency: 'USD',
  }));
  return { token: users[a - 1].token, body: JSON.stringify({ transfers }) };
};

/** One small batch: the status says whether POST /api/v1/transfers/batch exists (404 while it does not). */
export async function probeBatch({ base, users }, d) {
  const { token, body } = batchBody(users, d, 2);
  const r = await fetch(`${base}/api/v1/transfers/batch`, { method: 'POST', headers: headers(token), body });
  return { status: r.status, body: await r.text() };
}

/**
 * POST /api/v1/transfers/batch (contract v1.1, not atomic) with `size` transfers from one caller per
 * request. Counts transfers (items answered 201), not requests; refused items under "item <status> <code>".
 */
export async function batchLoad({ base, users }, d, { connections, duration, size }) {
  const refused = {};
  let transfers = 0;
  const result = await autocannon({
    url: base,
    connections,
    duration,
    requests: [
      {
        method: 'POST',
        path: '/api/v1/transfers/batch',
        setupRequest: (req) => {
          const { token, body } = batchBody(users, d, size);
          return { ...req, headers: headers(token), body };
        },
        onResponse: (status, body) => {
          if (status !== 200 && status !== 201) return countRefusal(refused, status, body);
          let items = [];
          try {
            items = JSON.parse(body).items ?? [];
          } catch {
            /* counted below as no items */
          }
          if (!items.length) countRefusal(refused, `${status} without items`, body);
          for (const item of items) {
            if (item.status === 201) transfers += 1;
            else {
              const key = `item ${item.status} ${item.problem?.code ?? ''}`.trim();
              refused[key] = (refused[key] ?? 0) + 1;
            }
          }
        },
      },
    ],
  });
  return {
    transfers,
    requests: result.requests.total,
    seconds: duration,
    latencyMs: latencyOf(result),
    refused,
    errors: result.errors + result.timeouts,
  };
}

const pct = (sorted, p) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : 0;

/**
 * Open-loop transfers at a fixed offered rate: one is due every 1/rate s whatever the service's speed,
 * over at most `connections` keep-alive connections. Latency runs from the moment a request was due, so
 * waiting for a free connection counts (no coordinated omission). (autocannon's overallRate releases each
 * second's quota in a burst at the start of the second, which measures the burst, not the rate.)
 */
export async function pacedLoad({ base, users }, d, { rate, duration, connections }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const url = new URL(base);
  const total = Math.max(1, Math.floor(rate * duration));
  const interval = 1000 / rate;
  const latencies = [];
  const refused = {};
  let transfers = 0;
  const send = (due) => {
    const { token, body } = transferRequest(users, d);
    return new Promise((resolve) => {
      const req = http.request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          method: 'POST',
          path: '/api/v1/transfers',
          headers: { ...headers(token), 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          let text = '';
          res.on('data', (chunk) => (text += chunk));
          res.on('end', () => {
            latencies.push(performance.now() - due);
            if (res.statusCode >= 200 && res.statusCode < 300) transfers += 1;
            else countRefusal(refused, res.statusCode, text);
            resolve();
          });
        },
      );
      req.on('error', () => {
        refused['no response'] = (refused['no response'] ?? 0) + 1;
        resolve();
      });
      req.end(body);
    });
  };
  const pending = [];
  const t0 = performance.now();
  let sent = 0;
  await new Promise((done) => {
    const tick = () => {
      while (sent < total && t0 + sent * interval <= performance.now())
        pending.push(send(t0 + sent++ * interval));
      if (sent >= total) return done();
      setTimeout(tick, Math.max(0, t0 + sent * interval - performance.now()));
    };
    tick();
  });
  await Promise.all(pending);
  agent.destroy();
  latencies.sort((x, y) => x - y);
  const at = (p) => Math.round(pct(latencies, p));
  return {
    offeredRate: rate,
    transfers,
    seconds: duration,
    latencyMs: { p50: at(50), p90: at(90), p99: at(99), max: at(100) },
    refused,
  };
}

/** A cursor at a random depth within [from, to) of a statement whose seqs run lo..hi (0 = oldest, 1 = newest). */
const cursorAt = ({ lo, hi }, from, to) => {
  const span = Number(hi) - Number(lo);
  const at = BigInt(lo) + BigInt(Math.floor((from + Math.random() * (to - from)) * span));
  return Buffer.from(`s:${at}`).toString('base64url');
};

/** Pages of 50 of `reader`'s statement at random depths within [from, to). */
export async function historyPages({ base }, reader, range, { connections, duration, from = 0, to = 1 }) {
  const r = await autocannon({
    url: base,
    connections,
    duration,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => ({
          ...req,
          path: `/api/v1/wallets/me/transactions?limit=50&cursor=${cursorAt(range, from, to)}`,
          headers: { authorization: `Bearer ${reader.token}` },
        }),
      },
    ],
  });
  return { pagesPerSecond: Math.round(r.requests.average), non2xx: r.non2xx, latencyMs: latencyOf(r) };
}

/** `users` log in at once with `password`; their statuses and how long the burst took. */
export async function loginBurst({ base }, users, password) {
  const started = performance.now();
  const statuses = await Promise.all(
    users.map((u) =>
      fetch(`${base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: u.email, password }),
      }).then((r) => r.status),
    ),
  );
  return { statuses, seconds: +((performance.now() - started) / 1000).toFixed(2) };
}
