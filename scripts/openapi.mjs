#!/usr/bin/env node
// npm run openapi:lint        builds the OpenAPI document and lints it with Redocly's recommended ruleset
// node scripts/openapi.mjs --out FILE   only writes the document (JSON) to FILE
//
// No server and no database: the sources are compiled (tsc, incremental, into node_modules/.cache) and the
// Nest application is created in preview mode, which reads the modules, controllers and decorators without
// instantiating any provider (so nothing connects to PostgreSQL or Redis). The document is the one
// /docs-json serves (test/integration/openapi.spec.ts checks that they are equal).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const outIndex = args.indexOf('--out');
const out = outIndex >= 0 ? resolve(args[outIndex + 1] ?? '') : undefined;
const lint = args.includes('--lint');
if ((outIndex >= 0 && !args[outIndex + 1]) || (!out && !lint)) {
  console.error('usage: openapi.mjs [--out FILE] [--lint]');
  process.exit(2);
}

const build = join(root, 'node_modules', '.cache', 'hfts-openapi');
const tsc = spawnSync(
  process.execPath,
  [
    require.resolve('typescript/bin/tsc'),
    '-p',
    join(root, 'tsconfig.build.json'),
    '--outDir',
    build,
    '--tsBuildInfoFile',
    join(build, '.tsbuildinfo'),
  ],
  { stdio: 'inherit', cwd: root },
);
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

/** The document, built as create-app.ts builds it: same module, same global prefix, same setup. */
async function buildDocument() {
  require('reflect-metadata');
  const { NestFactory } = require('@nestjs/core');
  const { FastifyAdapter } = require('@nestjs/platform-fastify');
  const { AppModule } = require(join(build, 'src/app.module.js'));
  const { loadConfig } = require(join(build, 'src/config/app-config.js'));
  const { buildOpenApiDocument } = require(join(build, 'src/bootstrap/swagger.js'));
  const config = loadConfig({ NODE_ENV: 'production', LOG_LEVEL: 'silent', SECRET_KEY: 'x'.repeat(48) });
  const app = await NestFactory.create(AppModule.forRoot(config), new FastifyAdapter(), {
    preview: true,
    logger: false,
    abortOnError: false,
  });
  app.setGlobalPrefix('api/v1', { exclude: ['health/live', 'health/ready', 'metrics'] });
  const document = buildOpenApiDocument(app);
  await app.getHttpAdapter().close();
  return document;
}

const document = await buildDocument();
const json = `${JSON.stringify(document, null, 2)}\n`;
if (out) writeFileSync(out, json);
if (!lint) process.exit(0);

const dir = mkdtempSync(join(tmpdir(), 'hfts-openapi-'));
const file = join(dir, 'openapi.json');
writeFileSync(file, json);
const redocly = spawnSync(
  process.execPath,
  [
    require.resolve('@redocly/cli/bin/cli.js'),
    'lint',
    file,
    '--extends=recommended',
    ...args.filter((a) => a.startsWith('--format')),
  ],
  {
    stdio: 'inherit',
    cwd: root,
    // No telemetry and no update check: CI has no business calling out.
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
  },
);
rmSync(dir, { recursive: true, force: true });
process.exit(redocly.status ?? 1);
