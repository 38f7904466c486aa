#!/usr/bin/env node
// npm start: builds when the sources are newer than the build, then runs the service in the foreground.
//
// The service must not outlive whatever started it. npm 11 exits at once on SIGTERM without passing the
// signal on (so do some supervisors when they kill only the process they started), which would leave the
// service and its embedded PostgreSQL running, holding the port and the data directory. So:
// - the service gets an IPC channel to this process: when this process dies, however it dies, the
//   channel closes and the service stops as on SIGTERM (src/main.ts);
// - this process watches its own parent, and under npm the parent's parent too (npm runs scripts
//   through `sh -c`, which outlives npm): when one is gone, it sends the service SIGTERM.
// Ctrl-C reaches every process of the foreground group; SIGINT and SIGTERM sent here are passed on.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import nodeHeap from './lib/node-heap.cjs';

function newest(path) {
  const s = statSync(path, { throwIfNoEntry: false });
  if (!s) return 0;
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((f) => newest(join(path, f))));
}

/** The parent pid of another process: /proc on Linux, ps elsewhere; undefined when it is gone. */
function parentOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name, in parentheses, may hold spaces: the fields after it are state, ppid, ...
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    const ps = spawnSync('ps', ['-o', 'ppid=', '-p', String(pid)], { encoding: 'utf8' });
    const ppid = Number(ps.stdout?.trim());
    return ps.status === 0 && ppid > 0 ? ppid : undefined;
  }
}

/** True once the process that started us (or, under npm, npm itself) has gone away. */
function watchAncestors() {
  const parent = process.ppid;
  const grandparent = process.env.npm_lifecycle_event ? parentOf(parent) : undefined;
  return () =>
    process.ppid !== parent ||
    (grandparent !== undefined && grandparent > 1 && parentOf(parent) !== grandparent);
}

const orphaned = watchAncestors();
const built = newest('dist/src/main.js');
const sources = Math.max(newest('src'), newest('migrations'), newest('ormconfig.ts'), newest('package.json'));
if (!built || sources > built) {
  process.stderr.write(
    `npm start: building the service (nest build: ${built ? 'the sources changed' : 'first start'}), about 20 s...\n`,
  );
  const status = spawnSync('npx', ['nest', 'build'], { stdio: 'inherit' }).status;
  if (status !== 0) process.exit(status ?? 1);
}
if (orphaned()) process.exit(143);
const child = spawn(process.execPath, [...nodeHeap.serviceNodeArgs(), 'dist/src/main.js'], {
  stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
const watch = setInterval(() => {
  if (!orphaned()) return;
  clearInterval(watch);
  child.kill('SIGTERM');
}, 500);
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
