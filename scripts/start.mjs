#!/usr/bin/env node
// npm start: builds when the sources are newer than the build, then runs the service in the foreground.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function newest(path) {
  const s = statSync(path, { throwIfNoEntry: false });
  if (!s) return 0;
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((f) => newest(join(path, f))));
}

const built = newest('dist/src/main.js');
const sources = Math.max(newest('src'), newest('migrations'), newest('ormconfig.ts'), newest('package.json'));
if (!built || sources > built) {
  const status = spawnSync('npx', ['nest', 'build'], { stdio: 'inherit' }).status;
  if (status !== 0) process.exit(status ?? 1);
}
const child = spawn(process.execPath, ['dist/src/main.js'], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
