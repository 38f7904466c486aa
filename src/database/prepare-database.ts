import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { buildDataSourceOptions, type DatabaseSettings } from './data-source-options';

/**
 * Before the service's pool opens: run pending migrations as the login role (which owns the schema), and
 * decide which role the pool works as. The configured app role is used when it exists and the login role
 * may switch to it; otherwise the service says so once and works as the login role (the append-only
 * triggers still protect history). Returns the settings the service's pool should use.
 */
export async function prepareDatabase(s: DatabaseSettings): Promise<DatabaseSettings> {
  const owner = new DataSource({
    ...buildDataSourceOptions({ ...s, appRole: undefined, poolSize: 1 }),
    entities: [],
    migrationsRun: s.runMigrations,
  });
  await owner.initialize();
  try {
    let appRole = s.appRole;
    if (appRole) {
      const rows = await owner.query<unknown[]>(
        `SELECT 1 FROM pg_roles WHERE rolname = $1 AND pg_has_role(current_user, oid, 'MEMBER')`,
        [appRole],
      );
      if (rows.length === 0) {
        new Logger('Database').warn(
          `role ${appRole} does not exist or ${s.user} may not switch to it: working as ${s.user}`,
        );
        appRole = undefined;
      }
    }
    return { ...s, runMigrations: false, appRole };
  } finally {
    await owner.destroy();
  }
}
