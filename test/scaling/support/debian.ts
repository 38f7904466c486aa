import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Makes sure a Debian package's program is there, installing the package (as root, with apt-get) when
 * it is missing; `apt-get update` first when the package list does not know it yet.
 */
export function ensureDebianPackage(pkg: string, program: string): void {
  if (existsSync(program)) return;
  if (process.getuid?.() !== 0)
    throw new Error(`${program} is missing: install the Debian package ${pkg} (apt-get install -y ${pkg})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { env });
  if (install().status !== 0) {
    spawnSync('apt-get', ['update'], { env, stdio: 'ignore' });
    const r = install();
    if (r.status !== 0) throw new Error(`apt-get install ${pkg} failed:\n${String(r.stderr)}`);
  }
  if (!existsSync(program)) throw new Error(`${pkg} installed but ${program} is not there`);
}

/** The uid and gid of a system user (root cannot run pgbouncer or PostgreSQL). */
export function systemUser(name: string): { uid: number; gid: number } {
  const id = (flag: string) => Number(spawnSync('id', [flag, name]).stdout.toString().trim());
  const uid = id('-u');
  if (!Number.isInteger(uid) || uid <= 0) throw new Error(`no system user ${name}`);
  return { uid, gid: id('-g') };
}
