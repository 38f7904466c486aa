#!/usr/bin/env node
// node bench/profile-summary.mjs <file.cpuprofile> [top]
// Summarises a V8 CPU profile of the service (BENCH_PROFILE=dir npm run bench writes one): busy time by
// package, the functions with the most self time, and the app's functions by inclusive time.
import { readFileSync } from 'node:fs';

function area(url, functionName) {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node core';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (m) return m[1];
  const app = /\/dist\/src\/(.*)$/.exec(url);
  if (app) return `app: ${app[1].split('/')[0]}`;
  return 'other';
}

/**
 * The areas of issue 22's profile table, by the file a function's code is in (self time only). Order
 * matters: the first match wins.
 */
const AREAS = [
  ['GC', (url, fn) => fn === '(garbage collector)'],
  [
    'logging',
    (url) =>
      /node_modules\/(pino|pino-http|nestjs-pino|pino-std-serializers|fast-redact|@pinojs\/redact|sonic-boom|thread-stream|fast-safe-stringify)\//.test(
        url,
      ) || /\/src\/bootstrap\/logger/.test(url),
  ],
  [
    'auth',
    (url) =>
      /node_modules\/(passport|passport-jwt|passport-strategy|jsonwebtoken|jws|jwa|@nestjs\/passport|@nestjs\/jwt|ecdsa-sig-formatter|safe-buffer)\//.test(
        url,
      ) ||
      /\/src\/(auth|common\/auth)\//.test(url) ||
      /^node:(crypto|internal\/crypto)/.test(url),
  ],
  [
    'validation',
    (url) =>
      /node_modules\/(class-validator|class-transformer|validator|ajv|libphonenumber-js)\//.test(url) ||
      /node_modules\/@nestjs\/common\/pipes\//.test(url) ||
      /\/src\/.*\/dto\//.test(url),
  ],
  ['ORM (TypeORM)', (url) => /node_modules\/typeorm\//.test(url)],
  [
    'pg driver',
    (url) =>
      /node_modules\/(pg|pg-protocol|pg-pool|pg-types|pg-connection-string|postgres-array|postgres-date|postgres-interval|postgres-bytea|pgpass|pg-int8|pg-cursor|pg-query-stream)\//.test(
        url,
      ),
  ],
  [
    'engine',
    (url) =>
      /\/src\/(transfers|wallets|common\/money|database)\//.test(url) || /node_modules\/big\.js\//.test(url),
  ],
  [
    'metrics, tracing',
    (url) =>
      /node_modules\/(prom-client|@opentelemetry\/[^/]+|tdigest|bintrees)\//.test(url) ||
      /\/src\/(metrics|tracing|common\/tracing)/.test(url),
  ],
  [
    'HTTP',
    (url) =>
      /node_modules\/(fastify|@fastify\/[^/]+|find-my-way|light-my-request|avvio|fast-json-stringify|secure-json-parse|helmet|@nestjs\/platform-fastify|fast-querystring|toad-cache|process-warning|abstract-logging|fast-content-type-parse|ret|safe-regex2|proxy-addr|forwarded)\//.test(
        url,
      ) || /^node:(_http|net|internal\/(http|stream|streams|net|js_stream|stream_base))/.test(url),
  ],
  [
    'Nest, rxjs (DI, guards, interceptors)',
    (url) =>
      /node_modules\/(@nestjs\/core|@nestjs\/common|rxjs|reflect-metadata|tslib)\//.test(url) ||
      /\/src\/common\//.test(url),
  ],
  ['other app code', (url) => /\/dist\/src\//.test(url)],
  ['node core', (url) => url.startsWith('node:')],
  ['V8, native (program)', (url) => !url],
];

export function areaOf(url, functionName) {
  for (const [name, test] of AREAS) if (test(url ?? '', functionName)) return name;
  return 'other packages';
}

/**
 * Busy (non-idle) self time of a V8 CPU profile by area, within [fromUs, toUs] of the monotonic clock
 * (process.hrtime, the clock V8 stamps profiles with) when given: { busyUs, areas: { name: us } }.
 */
export function cpuByArea(file, { fromUs = -Infinity, toUs = Infinity } = {}) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const areas = {};
  let busyUs = 0;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    if (at < fromUs || at > toUs) continue;
    const f = nodes.get(profile.samples[i]).callFrame;
    if (f.functionName === '(idle)') continue;
    const name = areaOf(f.url, f.functionName);
    areas[name] = (areas[name] ?? 0) + dt;
    busyUs += dt;
  }
  return { busyUs, areas, startTime: profile.startTime, endTime: profile.endTime };
}

/**
 * A scenario's CPU per transfer by area: each area's share of the profile's busy samples within the
 * scenario's window, applied to the service's CPU per transfer measured from /proc in that scenario (the
 * profile sees the main thread only; /proc counts every thread, so shares, not the profile's own times).
 */
export function profileByArea(file, scenario) {
  let profile;
  try {
    profile = cpuByArea(file, { fromUs: scenario.windowUs[0], toUs: scenario.windowUs[1] });
  } catch (err) {
    return { error: String(err) };
  }
  const cpuMs = scenario.cpuMsPerTransfer.service;
  const shares = {};
  const msPerTransfer = {};
  for (const [area, us] of Object.entries(profile.areas).sort((a, b) => b[1] - a[1])) {
    shares[area] = +(us / profile.busyUs).toFixed(3);
    msPerTransfer[area] = +((cpuMs * us) / profile.busyUs).toFixed(3);
  }
  return { busyMs: Math.round(profile.busyUs / 1000), transfers: scenario.transfers, shares, msPerTransfer };
}

const shortUrl = (url) =>
  url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/node_modules\//, '')
    .replace(/^.*\/dist\/src\//, 'src/');

export function summariseCpuProfile(file, top = 25) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const key = (n) => {
    const f = n.callFrame;
    return `${f.functionName || '(anonymous)'} ${f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : ''}`.trim();
  };
  const self = new Map();
  const inclusive = new Map();
  const areas = new Map();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const node = nodes.get(profile.samples[i]);
    if (node.callFrame.functionName === '(idle)') {
      idle += dt;
      continue;
    }
    total += dt;
    const k = key(node);
    self.set(k, (self.get(k) ?? 0) + dt);
    const a = area(node.callFrame.url, node.callFrame.functionName);
    areas.set(a, (areas.get(a) ?? 0) + dt);
    const seen = new Set();
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const kk = key(nodes.get(id));
      if (seen.has(kk)) continue;
      seen.add(kk);
      inclusive.set(kk, (inclusive.get(kk) ?? 0) + dt);
    }
  }
  const rows = (map, n) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: Math.round(us / 1000), percent: +((100 * us) / total).toFixed(1) }));
  return {
    busyMs: Math.round(total / 1000),
    idleMs: Math.round(idle / 1000),
    byPackage: rows(areas, 20),
    selfTop: rows(self, top),
    inclusiveAppTop: rows(new Map([...inclusive.entries()].filter(([k]) => / src\//.test(k))), top),
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node bench/profile-summary.mjs <file.cpuprofile> [top]');
    process.exit(2);
  }
  const s = summariseCpuProfile(file, Number(top ?? 25));
  console.log(`busy ${s.busyMs} ms, idle ${s.idleMs} ms`);
  console.log('\nby package (self time)');
  console.table(s.byPackage);
  console.log('\nfunctions by self time');
  console.table(s.selfTop);
  console.log("\nthe app's functions by inclusive time");
  console.table(s.inclusiveAppTop);
}
