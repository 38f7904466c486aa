import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfig } from './src/config/app-config';
import { buildDataSourceOptions } from './src/database/data-source-options';
import { databaseSettings } from './src/database/settings';

/**
 * The TypeORM CLI's data source (`npm run migration:*` run it from dist/). Same options as the app,
 * built by the same function, but as the login role (which owns the schema), not DB_APP_ROLE. With
 * POSTGRES_HOST unset, scripts/migration.mjs starts the embedded server first and points POSTGRES_* at it.
 */
const config = loadConfig(process.env);
export default new DataSource({
  ...buildDataSourceOptions({ ...databaseSettings(config), appRole: undefined }),
  migrationsRun: false,
});
