import request from 'supertest';
import type { DatabaseTarget } from '../../src/config/app-config';
import { startTestApp, type TestApp } from '../support/app';
import { connect, createTestDatabase, dropTestDatabase } from '../support/database';

const ADMIN_EMAIL = 'Root@Example.com';
const ADMIN_PASSWORD = 'first admin password';

async function loginStatus(
  t: TestApp,
  email: string,
  password: string,
): Promise<{ status: number; token?: string }> {
  const res = await request(t.server).post('/api/v1/auth/login').send({ email, password });
  return { status: res.status, token: (res.body as { accessToken?: string }).accessToken };
}

async function withApp<T>(
  env: Record<string, string>,
  db: DatabaseTarget,
  fn: (t: TestApp) => Promise<T>,
): Promise<T> {
  const t = await startTestApp(env, db);
  try {
    return await fn(t);
  } finally {
    await t.close();
  }
}

describe('admin bootstrap from ADMIN_EMAIL and ADMIN_PASSWORD', () => {
  let db: DatabaseTarget;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await dropTestDatabase(db.database);
  });

  async function rowsFor(email: string): Promise<Array<{ id: string; role: string; password_hash: string }>> {
    const sql = await connect(db);
    try {
      return (await sql.query(`SELECT id, role, password_hash FROM users WHERE email = $1`, [email])).rows;
    } finally {
      await sql.end();
    }
  }

  it('creates the admin on the first start, and a second start on the same database changes nothing', async () => {
    const env = { ADMIN_EMAIL, ADMIN_PASSWORD };
    const firstId = await withApp(env, db, async (t) => {
      const login = await loginStatus(t, ADMIN_EMAIL, ADMIN_PASSWORD);
      expect(login.status).toBe(200);
      const me = await request(t.server)
        .get('/api/v1/users/me')
        .auth(login.token as string, { type: 'bearer' })
        .expect(200);
      expect(me.body).toMatchObject({ email: 'root@example.com', role: 'ADMIN', status: 'ACTIVE' });
      return me.body.id as string;
    });
    const before = await rowsFor('root@example.com');

    await withApp(env, db, async (t) => {
      expect((await loginStatus(t, ADMIN_EMAIL, ADMIN_PASSWORD)).status).toBe(200);
    });
    const after = await rowsFor('root@example.com');
    expect(after).toHaveLength(1);
    expect(after[0]).toEqual(before[0]);
    expect(after[0].id).toBe(firstId);
  });

  it('does not reset the password of an existing admin when ADMIN_PASSWORD changes', async () => {
    await withApp({ ADMIN_EMAIL, ADMIN_PASSWORD: 'another admin password' }, db, async (t) => {
      expect((await loginStatus(t, ADMIN_EMAIL, ADMIN_PASSWORD)).status).toBe(200);
      expect((await loginStatus(t, ADMIN_EMAIL, 'another admin password')).status).toBe(401);
    });
  });

  it('promotes an existing user and hands the account to the holder of ADMIN_PASSWORD', async () => {
    const email = 'squatter@example.com';
    await withApp({}, db, async (t) => {
      await request(t.server)
        .post('/api/v1/auth/register')
        .send({ email, password: 'squatter password', fullName: 'Registered first' })
        .expect(201);
    });
    await withApp(
      { ADMIN_EMAIL: email.toUpperCase(), ADMIN_PASSWORD: 'operator password' },
      db,
      async (t) => {
        // Whoever registered the address first does not get admin rights with their own password.
        expect((await loginStatus(t, email, 'squatter password')).status).toBe(401);
        const login = await loginStatus(t, email, 'operator password');
        expect(login.status).toBe(200);
        const me = await request(t.server)
          .get('/api/v1/users/me')
          .auth(login.token as string, { type: 'bearer' })
          .expect(200);
        expect(me.body.role).toBe('ADMIN');
      },
    );
    expect(await rowsFor(email)).toHaveLength(1);
  });

  it('two instances starting at once on the same database create one admin', async () => {
    const env = { ADMIN_EMAIL: 'both@example.com', ADMIN_PASSWORD: 'concurrent start' };
    const [a, b] = await Promise.all([startTestApp(env, db), startTestApp(env, db)]);
    try {
      const rows = await rowsFor('both@example.com');
      expect(rows).toHaveLength(1);
      expect(rows[0].role).toBe('ADMIN');
      expect((await loginStatus(b, 'both@example.com', 'concurrent start')).status).toBe(200);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('does nothing when only one of the two variables is set', async () => {
    await withApp({ ADMIN_EMAIL: 'half@example.com' }, db, async () => undefined);
    expect(await rowsFor('half@example.com')).toHaveLength(0);
  });
});
