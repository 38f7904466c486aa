import { validateEnv } from '../../src/config/env.schema';
import { parseHostList } from '../../src/database/primary-host';
import { lsnOf } from '../../src/database/replica-health';

describe('POSTGRES_HOST and POSTGRES_REPLICA_HOSTS lists', () => {
  it('reads host, host:port and [v6]:port items, each without a port on the default', () => {
    expect(parseHostList(' db1:5433, db2 ,[::1]:6000,[fe80::1]', 5432)).toEqual([
      { host: 'db1', port: 5433 },
      { host: 'db2', port: 5432 },
      { host: '::1', port: 6000 },
      { host: 'fe80::1', port: 5432 },
    ]);
    expect(parseHostList('/var/run/postgresql', 5432)).toEqual([{ host: '/var/run/postgresql', port: 5432 }]);
    expect(parseHostList('', 5432)).toEqual([]);
  });

  it('refuses a malformed list at start-up, with the variable named', () => {
    for (const bad of ['db1 db2', 'db1:,db2', 'db1:5432:1']) {
      expect(() => validateEnv({ POSTGRES_HOST: bad })).toThrow(/POSTGRES_HOST/);
      expect(() => validateEnv({ POSTGRES_REPLICA_HOSTS: bad })).toThrow(/POSTGRES_REPLICA_HOSTS/);
    }
    expect(validateEnv({ POSTGRES_HOST: 'db1:5432,db2:5433' }).POSTGRES_HOST).toBe('db1:5432,db2:5433');
    expect(validateEnv({ POSTGRES_REPLICA_HOSTS: '' }).POSTGRES_REPLICA_HOSTS).toBeUndefined();
  });
});

describe('WAL positions', () => {
  it('orders pg_lsn values as byte positions, past 32 bits', () => {
    expect(lsnOf('0/16B3748')).toBe(0x16b3748n);
    expect(lsnOf('1/0')).toBe(1n << 32n);
    expect(lsnOf('1/0') > lsnOf('0/FFFFFFFF')).toBe(true);
    expect(lsnOf('A/1') - lsnOf('9/FFFFFFFF')).toBe(2n);
  });
});
