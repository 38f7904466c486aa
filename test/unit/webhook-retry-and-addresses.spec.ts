import { MAX_ATTEMPTS, nominalScheduleSeconds, retryDelayMs } from '../../src/webhooks/retry-schedule';
import { isPublicAddress } from '../../src/webhooks/url-guard';

describe('the webhook retry schedule', () => {
  it('retries at about 5 s, 30 s, 2 min, 10 min, 1 h, then every 3 h, for more than 24 hours', () => {
    const mid = () => 0.5; // no jitter
    const waits = Array.from({ length: MAX_ATTEMPTS - 1 }, (_, i) => retryDelayMs(i + 1, 1, mid)! / 1000);
    expect(waits.slice(0, 6)).toEqual([5, 30, 120, 600, 3600, 10800]);
    expect(waits.slice(5).every((w) => w === 10800)).toBe(true);
    const last = nominalScheduleSeconds().at(-1)!;
    expect(last).toBeGreaterThan(24 * 3600);
    // The attempt before the last is still within 24 h: the schedule is not longer than it needs to be.
    expect(nominalScheduleSeconds().at(-2)!).toBeLessThan(24 * 3600);
    expect(retryDelayMs(MAX_ATTEMPTS, 1, mid)).toBeNull();
  });

  it('jitters each wait within ±20 % and scales it by WEBHOOK_RETRY_SCALE', () => {
    expect(retryDelayMs(1, 1, () => 0)).toBe(4000);
    expect(retryDelayMs(1, 1, () => 1)).toBe(6000);
    expect(retryDelayMs(2, 0.01, () => 0.5)).toBe(300);
    const seen = new Set(Array.from({ length: 50 }, () => retryDelayMs(3, 1)));
    expect(seen.size).toBeGreaterThan(1);
    for (const ms of seen) expect(ms! >= 96000 && ms! <= 144000).toBe(true);
  });
});

describe('webhook target addresses', () => {
  it.each([
    '127.0.0.1',
    '10.0.0.1',
    '172.31.255.255',
    '192.168.0.10',
    '169.254.169.254',
    '100.64.1.1',
    '0.0.0.0',
    '255.255.255.255',
    '224.0.0.251',
    '192.0.2.1',
    '198.18.0.1',
    '::1',
    '::',
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
    'fe80::1',
    'fc00::1',
    'fd12:3456::1',
    'ff02::1',
    '64:ff9b::a00:1',
    '2002:a00:1::',
    '2001:db8::1',
    // IPv4-compatible IPv6 (::/96, deprecated): what URL makes of [::127.0.0.1], and the dotted forms,
    // which ipaddr.js alone would read as IPv4-mapped (and so ::8.8.8.8 as public).
    '::7f00:1',
    '::127.0.0.1',
    '::a00:1',
    '::808:808',
    '::8.8.8.8',
    'not an address',
  ])('refuses %s', (address) => expect(isPublicAddress(address)).toBe(false));

  it.each(['93.184.215.14', '8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])(
    'accepts the public %s',
    (address) => expect(isPublicAddress(address)).toBe(true),
  );
});
