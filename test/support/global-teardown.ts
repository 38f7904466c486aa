import { Client } from 'pg';

/** Drops the template and every database the run left behind, then stops the embedded server. */
export default async function globalTeardown(): Promise<void> {
  const g = globalThis as { __hftsEmbedded?: { stop(): Promise<void> } };
  const template = process.env.HFTS_TEST_TEMPLATE;
  // Named by every project that needs a database: the first call cleans up, the others find nothing.
  if (!template) return;
  delete process.env.HFTS_TEST_TEMPLATE;
  if (template && !g.__hftsEmbedded) {
    const admin = new Client({
      host: process.env.POSTGRES_HOST,
      port: Number(process.env.POSTGRES_PORT ?? 5432),
      user: process.env.POSTGRES_USER ?? 'postgres',
      password: process.env.POSTGRES_PASSWORD ?? '',
      database: 'postgres',
    });
    await admin.connect();
    const suffix = template.replace('hfts_test_tpl_', '');
    const { rows } = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2`,
      [template, `hfts_test_${suffix}_%`],
    );
    for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    await admin.end();
  }
  await g.__hftsEmbedded?.stop();
  g.__hftsEmbedded = undefined;
}
