import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { WebhookTarget } from './url-guard';

/** What one delivery attempt came to: a response status, or none (`error` says why). */
export interface SendResult {
  ok: boolean;
  responseStatus: number | null;
  error: string | null;
}

/** Response bodies are read (so the connection can be reused) but never kept beyond this. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * POSTs one signed webhook body. The connection goes to `target.address`, the address the SSRF guard
 * checked, through a `lookup` that answers only that address: the host name is never resolved again, so
 * DNS rebinding cannot redirect the request. TLS still verifies the certificate against the host name
 * (servername is the URL's host). Redirects are not followed (a 3xx is a failed attempt). The whole
 * attempt, connection included, is bounded by `timeoutMs`, and the connection (TCP, and TLS for https)
 * by the shorter `connectTimeoutMs`: a receiver that does not even accept frees its slot sooner.
 */
export class WebhookSender {
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 256 });
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });

  constructor(
    private readonly timeoutMs: number,
    private readonly connectTimeoutMs = timeoutMs,
  ) {}

  send(target: WebhookTarget, headers: Record<string, string>, body: string): Promise<SendResult> {
    const pinned: LookupFunction = (_hostname, options, callback) => {
      if ((options as { all?: boolean }).all) {
        (callback as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [
          { address: target.address, family: target.family },
        ]);
      } else {
        callback(null, target.address, target.family);
      }
    };
    const secure = target.url.protocol === 'https:';
    const request = secure ? https.request : http.request;
    return new Promise<SendResult>((resolve) => {
      let settled = false;
      const finish = (r: SendResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(r);
      };
      const req = request(target.url, {
        method: 'POST',
        agent: secure ? this.httpsAgent : this.httpAgent,
        lookup: pinned,
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': 'hfts-webhooks/1',
        },
      });
      const timer = setTimeout(() => {
        finish({ ok: false, responseStatus: null, error: `no answer within ${this.timeoutMs} ms` });
        req.destroy();
      }, this.timeoutMs);
      req.on('socket', (socket) => {
        // A kept-alive socket is connected already; a new one must connect within connectTimeoutMs.
        if (!socket.connecting) return;
        const connecting = setTimeout(() => {
          finish({
            ok: false,
            responseStatus: null,
            error: `no connection within ${this.connectTimeoutMs} ms`,
          });
          req.destroy();
        }, this.connectTimeoutMs);
        socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(connecting));
        socket.once('close', () => clearTimeout(connecting));
      });
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_RESPONSE_BYTES) res.destroy();
        });
        const done = (): void =>
          finish({
            ok: status >= 200 && status < 300,
            responseStatus: status >= 100 && status <= 599 ? status : null,
            error: status >= 200 && status < 300 ? null : `answered ${status}`,
          });
        res.on('end', done);
        res.on('close', done);
        res.on('error', done);
      });
      req.on('error', (err) => finish({ ok: false, responseStatus: null, error: describe(err) }));
      req.end(body);
    });
  }

  close(): void {
    this.httpsAgent.destroy();
    this.httpAgent.destroy();
  }
}

function describe(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code ? `${code}: ${err.message}` : err.message;
}
