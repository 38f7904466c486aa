import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..', '..');
/**
 * A build of the service of this suite's own, where nothing else builds or cleans (`nest build` empties
 * dist/ first, and the fault suite or the bench may run it meanwhile). Inside node_modules, so that the
 * build finds the dependencies and git ignores it.
 */
export const SCALING_BUILD = join(ROOT, 'node_modules', '.cache', 'hfts-scaling-build');

/** Compiles the service (as `nest build` does: tsconfig.build.json, plus the worker scripts) once per run. */
export function buildService(): string {
  if (process.env.HFTS_SCALING_BUILT) return SCALING_BUILD;
  rmSync(SCALING_BUILD, { recursive: true, force: true });
  // Its own build info, removed with the build: tsconfig's ./dist/.tsbuildinfo (written by typecheck or
  // nest build) would tell tsc that everything is emitted already, and it would emit nothing here.
  const info = join(SCALING_BUILD, '.tsbuildinfo');
  const r = spawnSync(
    'npx',
    ['tsc', '-p', 'tsconfig.build.json', '--outDir', SCALING_BUILD, '--tsBuildInfoFile', info],
    {
      cwd: ROOT,
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`build failed:\n${r.stdout}${r.stderr}`);
  for (const f of readdirSync(join(ROOT, 'src', 'auth')).filter((n) => n.endsWith('.worker.js')))
    copyFileSync(join(ROOT, 'src', 'auth', f), join(SCALING_BUILD, 'src', 'auth', f));
  if (!existsSync(join(SCALING_BUILD, 'src', 'main.js'))) throw new Error('build wrote no src/main.js');
  process.env.HFTS_SCALING_BUILT = '1';
  return SCALING_BUILD;
}
