import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import pinoHttp, { type Options } from 'pino-http';
import { loggerOptions } from '../../src/bootstrap/logger';
import { loadConfig } from '../../src/config/app-config';

/**
 * The request log with the service's own options (bootstrap/logger.ts) in pino-http: a request whose line
 * the level drops makes one child logger (req.log, for what its handlers log) and writes nothing; a line
 * the level keeps is written as before.
 */
describe('request log cost', () => {
  let server: Server;
  let lines: Array<Record<string, unknown>>;
  let children: number;

  const start = async (level: string) => {
    const http = loggerOptions(loadConfig({ LOG_LEVEL: level })).pinoHttp as Options;
    lines = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const { transport: _transport, ...options } = http as Options & { transport?: unknown };
    const logger = pino(options as pino.LoggerOptions, sink);
    const child = Object.getPrototypeOf(logger).child as pino.Logger['child'];
    jest.spyOn(Object.getPrototypeOf(logger) as pino.Logger, 'child').mockImplementation(function (
      this: pino.Logger,
      ...args: Parameters<pino.Logger['child']>
    ) {
      children += 1;
      return child.apply(this, args);
    });
    const middleware = pinoHttp({ ...options, logger } as Options);
    children = 0; // pino-http's own child of the logger, made once
    server = createServer((req, res) => {
      middleware(req, res);
      res.statusCode = Number(req.url?.slice(1));
      res.end('{}');
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  };
  const get = (status: number) =>
    new Promise<void>((done, fail) => {
      const { port } = server.address() as AddressInfo;
      request({ host: '127.0.0.1', port, path: `/${status}` }, (res) => {
        res.resume();
        res.on('end', () => setImmediate(done));
      })
        .on('error', fail)
        .end();
    });

  afterEach(async () => {
    jest.restoreAllMocks();
    await new Promise((done) => server.close(done));
  });

  it('at warn: 2xx and 4xx write nothing and make one child logger each; a 5xx is written', async () => {
    await start('warn');
    await get(201);
    await get(422);
    expect(lines).toEqual([]);
    expect(children).toBe(2);
    await get(500);
    expect(lines).toEqual([expect.objectContaining({ level: 'error', res: { statusCode: 500 } })]);
  });

  it('at info: every request has its line, at info for 4xx and error for 5xx', async () => {
    await start('info');
    await get(201);
    await get(422);
    await get(500);
    expect(lines.map((l) => [l.level, (l.res as { statusCode: number }).statusCode])).toEqual([
      ['info', 201],
      ['info', 422],
      ['error', 500],
    ]);
  });
});
