import { holdForPrimary, primaryMoving } from '../../src/database/primary-hold';

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('primaryMoving: which failures mean the primary is changing hands', () => {
  it.each([
    ['25006 read-only transaction (a demoted leader)', pgError('25006')],
    [
      '55000 recovery is in progress (a WAL function on a standby)',
      pgError('55000', 'recovery is in progress'),
    ],
    ['57P01 admin shutdown (the leader stopping)', pgError('57P01')],
    ['57P03 cannot connect now (starting or stopping)', pgError('57P03')],
    ['08006 connection failure', pgError('08006')],
    ['a refused connection', pgError('ECONNREFUSED')],
    ['a reset connection', pgError('ECONNRESET')],
    ['a connection cut by haproxy', new Error('Connection terminated unexpectedly')],
    ['a connection not accepted in time', new Error('Connection terminated due to connection timeout')],
  ])('holds for %s', (_name, err) => {
    expect(primaryMoving(err)).toBe(true);
  });

  it.each([
    ['a pool checkout timeout (every connection busy)', new Error('timeout exceeded when trying to connect')],
    [
      'a pool ended by the shutdown of this instance',
      new Error('Cannot use a pool after calling end on the pool'),
    ],
    ['53300 too many connections', pgError('53300')],
    ['55P03 a busy row lock', pgError('55P03')],
    ['55000 for another reason', pgError('55000', 'cannot delete from sequence')],
    ['23505 a unique violation', pgError('23505')],
    ['40001 a serialization failure', pgError('40001')],
    ['a plain bug', new TypeError('undefined is not a function')],
  ])('does not hold for %s', (_name, err) => {
    expect(primaryMoving(err)).toBe(false);
  });
});

describe('holdForPrimary', () => {
  it('runs the work again while the primary moves, and returns its first success', async () => {
    let calls = 0;
    const result = await holdForPrimary(async () => {
      calls++;
      if (calls < 3) throw pgError(calls === 1 ? '57P01' : '25006');
      return 'done';
    }, 10000);
    expect(result).toBe('done');
    expect(calls).toBe(3);
  });

  it('throws any other failure at once', async () => {
    let calls = 0;
    const work = async () => {
      calls++;
      throw pgError('23505');
    };
    await expect(holdForPrimary(work, 10000)).rejects.toMatchObject({ code: '23505' });
    expect(calls).toBe(1);
  });

  it('does not hold at all with a bound of 0', async () => {
    let calls = 0;
    const work = async () => {
      calls++;
      throw pgError('57P01');
    };
    await expect(holdForPrimary(work, 0)).rejects.toMatchObject({ code: '57P01' });
    expect(calls).toBe(1);
  });

  it('gives up with the last error once the bound would be passed', async () => {
    let calls = 0;
    let held = 0;
    const work = async () => {
      calls++;
      throw pgError('25006');
    };
    // 150 ms: the first pause (50 to 100 ms) fits, the second (100 to 200 ms) never fits after it.
    await expect(holdForPrimary(work, 150, () => held++)).rejects.toMatchObject({ code: '25006' });
    expect(held).toBe(1);
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(calls).toBeLessThanOrEqual(3);
  });
});
