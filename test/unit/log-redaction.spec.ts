import { Writable } from 'node:stream';
import pino from 'pino';
import { loggerOptions } from '../../src/bootstrap/logger';
import { loadConfig } from '../../src/config/app-config';

/** The request logger's redaction, applied by pino itself to the lines a failed query would produce. */
describe('log redaction', () => {
  it('keeps secrets, hashes and failed-query parameters out of log lines', () => {
    const config = loadConfig({ NODE_ENV: 'test', SECRET_KEY: 'x'.repeat(40) });
    const http = loggerOptions(config).pinoHttp as { redact: pino.LoggerOptions['redact'] };
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = pino({ redact: http.redact }, sink);
    const secret = 'whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0';
    const hash = '$2b$12$abcdefghijklmnopqrstuuJ5i1QnKqQ2r2b7W1rj9fQq3J1sQm7e';
    log.error({
      err: {
        message: 'duplicate key value violates unique constraint',
        parameters: [secret, hash],
        detail: `Failing row contains (${secret}, ${hash}).`,
        driverError: { detail: `Failing row contains (${secret}).`, parameters: [secret] },
      },
      body: { secret, password: 'hunter2-hunter2' },
      req: { headers: { authorization: 'Bearer abc.def.ghi', cookie: 'sid=1' } },
    });
    const out = lines.join('');
    expect(out).toContain('duplicate key value');
    for (const leaked of [secret, hash, 'hunter2', 'abc.def.ghi', 'sid=1']) expect(out).not.toContain(leaked);
  });
});
