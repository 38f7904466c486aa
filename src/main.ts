// OpenTelemetry first: it patches http, fastify and pg, which must not be loaded before it.
import './tracing';
import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { Logger } from '@nestjs/common';
import { createApp } from './bootstrap/create-app';
import { type EmbeddedDatabase, startEmbeddedDatabase } from './bootstrap/embedded-database';
import { startupLogger, writeFatal } from './bootstrap/logger';
import { type AppConfig, loadConfig } from './config/app-config';
import { ConfigError } from './config/validate-settings';
import { LifecycleService } from './lifecycle/lifecycle.service';
import { stopTracing } from './tracing-sdk';

/**
 * Why the service is asked to stop: a signal, or the parent that started it going away. `npm start`
 * (scripts/start.mjs) runs this process with an IPC channel; when start.mjs dies, however it dies, the
 * channel closes and we stop as on SIGTERM, so the service and its embedded PostgreSQL never outlive
 * whatever started them. A direct `node dist/src/main.js` (Docker, supervisors) has no channel.
 */
function onStopRequest(handler: (reason: string) => void): void {
  // `on`, not `once`: Ctrl-C sends SIGINT to the whole process group and start.mjs forwards it too, and a
  // second SIGINT with no listener left would kill the process before the graceful stop finishes.
  process.on('SIGTERM', () => handler('SIGTERM received'));
  process.on('SIGINT', () => handler('SIGINT received'));
  if (process.send) process.on('disconnect', () => handler('parent process gone (IPC channel closed)'));
}

async function main(): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  let config: AppConfig;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      writeFatal(err.message);
      process.exit(1);
    }
    throw err;
  }
  // JSON from the first line: Nest's own logger (and so every Logger made before the app) writes through
  // pino until createApp hands it the app's.
  Logger.overrideLogger(startupLogger(config));
  const logger = new Logger('Bootstrap');
  if (config.secretKeyGenerated) {
    logger.warn('SECRET_KEY is not set: using a random key for this run; tokens will not survive a restart');
  }

  // Before the server listens there is nothing to drain: a stop request then stops the embedded
  // PostgreSQL (once it is up, if it is being started) and exits.
  let starting: Promise<EmbeddedDatabase> | undefined;
  let stoppingEarly = false;
  let stop = (reason: string): void => {
    if (stoppingEarly) return;
    stoppingEarly = true;
    logger.log(`${reason} during start-up: stopping`);
    void (starting ?? Promise.resolve(undefined)).then((db) => db?.stop()).finally(() => process.exit(0));
  };
  onStopRequest((reason) => stop(reason));

  let embedded: EmbeddedDatabase | undefined;
  if (config.database.embedded) {
    logger.log(`POSTGRES_HOST is not set: starting an embedded PostgreSQL in ${config.env.EMBEDDED_PG_DIR}`);
    starting = startEmbeddedDatabase({
      dataDir: config.env.EMBEDDED_PG_DIR,
      database: config.env.POSTGRES_DB,
    });
    embedded = await starting;
    if (stoppingEarly) return;
    config = config.withDatabase(embedded.target, true);
  }
  const db = config.database;
  logger.log(`Using PostgreSQL ${db.embedded ? '(embedded) ' : ''}at ${db.host}:${db.port}/${db.database}`);

  let app;
  try {
    app = await createApp(config);
  } catch (err) {
    logger.fatal(`Start-up failed: ${err instanceof Error ? err.message : String(err)}`);
    await embedded?.stop();
    process.exit(1);
  }
  if (stoppingEarly) return;
  await app.listen({ port: config.env.PORT, host: config.env.HOST });
  logger.log(`Listening on http://${config.env.HOST}:${config.env.PORT} (docs at /docs)`);

  let stopping = false;
  const shutdown = async (reason: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.log(`${reason}: draining requests`);
    app.get(LifecycleService).markShuttingDown();
    const grace = setTimeout(() => {
      logger.error(`Requests still running after ${config.env.SHUTDOWN_GRACE_MS} ms: exiting`);
      void (embedded?.stop() ?? Promise.resolve()).finally(() => process.exit(1));
    }, config.env.SHUTDOWN_GRACE_MS);
    try {
      await app.close();
      await embedded?.stop();
      await stopTracing();
      clearTimeout(grace);
      logger.log('Stopped cleanly');
      process.exit(0);
    } catch (err) {
      logger.error(`Shutdown failed: ${String(err)}`);
      process.exit(1);
    }
  };
  if (!stoppingEarly) stop = (reason) => void shutdown(reason);
}

void main();
