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
