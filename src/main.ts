import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { Logger } from '@nestjs/common';
import { createApp } from './bootstrap/create-app';
import { type EmbeddedDatabase, startEmbeddedDatabase } from './bootstrap/embedded-database';
import { type AppConfig, loadConfig } from './config/app-config';
import { ConfigError } from './config/env.schema';
import { LifecycleService } from './health/lifecycle.service';

async function main(): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  let config: AppConfig;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = new Logger('Bootstrap');
  if (config.secretKeyGenerated) {
    logger.warn('SECRET_KEY is not set: using a random key for this run; tokens will not survive a restart');
  }

  let embedded: EmbeddedDatabase | undefined;
  if (config.database.embedded) {
    logger.log(`POSTGRES_HOST is not set: starting an embedded PostgreSQL in ${config.env.EMBEDDED_PG_DIR}`);
    embedded = await startEmbeddedDatabase({
      dataDir: config.env.EMBEDDED_PG_DIR,
      database: config.env.POSTGRES_DB,
    });
    config = config.withDatabase(embedded.target, true);
  }
  const db = config.database;
  logger.log(`Using PostgreSQL ${db.embedded ? '(embedded) ' : ''}at ${db.host}:${db.port}/${db.database}`);

  let app;
  try {
    app = await createApp(config);
  } catch (err) {
    process.stderr.write(`Start-up failed: ${err instanceof Error ? err.message : String(err)}\n`);
    await embedded?.stop();
    process.exit(1);
  }
  await app.listen({ port: config.env.PORT, host: config.env.HOST });
  logger.log(`Listening on http://${config.env.HOST}:${config.env.PORT} (docs at /docs)`);

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal} received: draining requests`);
    app.get(LifecycleService).markShuttingDown();
    const grace = setTimeout(() => {
      logger.error(`Requests still running after ${config.env.SHUTDOWN_GRACE_MS} ms: exiting`);
      void (embedded?.stop() ?? Promise.resolve()).finally(() => process.exit(1));
    }, config.env.SHUTDOWN_GRACE_MS);
    try {
      await app.close();
      await embedded?.stop();
      clearTimeout(grace);
      logger.log('Stopped cleanly');
      process.exit(0);
    } catch (err) {
      logger.error(`Shutdown failed: ${String(err)}`);
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

void main();
