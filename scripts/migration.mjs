#!/usr/bin/env node
// npm run migration:generate -- <Name> | migration:run | migration:revert
// Builds the project, starts the embedded PostgreSQL when POSTGRES_HOST is unset, then runs the TypeORM CLI
// against dist/ormconfig.js (the same DataSource options as the app).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const [command, name] = process.argv.slice(2);
if (!['generate', 'run', 'revert'].includes(command)) {
  console.error('usage: migration.mjs generate <Name> | run | revert');
  process.exit(2);
}
if (command === 'generate' && !/^[A-Za-z][A-Za-z0-9]*$/.test(name ?? '')) {
  console.error('usage: npm run migration:generate -- <Name>   (letters and digits, e.g. AddWalletLimits)');
  process.exit(2);
}
if (existsSync('.env')) process.loadEnvFile('.env');
const run = (cmd, args, env = process.env) => spawnSync(cmd, args, { stdio: 'inherit', env }).status ?? 1;
if (run('npx', ['nest', 'build']) !== 0) process.exit(1);

let embedded;
const env = { ...process.env, DB_RUN_MIGRATIONS: 'false' };
if (!env.POSTGRES_HOST) {
  const { startEmbeddedDatabase } = require('../dist/src/bootstrap/embedded-database.js');
  embedded = await startEmbeddedDatabase({
    dataDir: env.EMBEDDED_PG_DIR ?? './.data/postgres',
    database: env.POSTGRES_DB ?? 'hfts_db',
  });
  Object.assign(env, {
    POSTGRES_HOST: embedded.target.host,
    POSTGRES_PORT: String(embedded.target.port),
    POSTGRES_USER: embedded.target.user,
    POSTGRES_PASSWORD: embedded.target.password,
  });
}
const cli = ['typeorm', '-d', 'dist/ormconfig.js'];
const args =
  command === 'generate'
    ? [...cli, 'migration:generate', '--pretty', `migrations/${name}`]
    : [...cli, `migration:${command}`];
const status = run('npx', args, env);
await embedded?.stop();
process.exit(status);
