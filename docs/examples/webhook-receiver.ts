/**
 * A webhook receiver for hfts, in plain Node (no framework): it verifies each delivery with the
 * `standardwebhooks` package, drops the duplicates that at-least-once delivery can bring, and answers 2xx
 * only once the event is handled (anything else, or no answer within 10 s, makes hfts retry later).
 *
 *   WEBHOOK_SECRET=whsec_... PORT=8080 npx ts-node docs/examples/webhook-receiver.ts
 *
 * The secret is the one POST /api/v1/webhooks answered (shown only then). The test suite runs this file
 * (test/integration/webhooks.spec.ts), so it is type-checked and known to work.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { Webhook } from 'standardwebhooks';

/** An hfts event (docs/API.md "Events and webhooks"). */
export interface HftsEvent {
  id: string;
  type: string;
  sequence: number;
  createdAt: string;
  walletIds: string[];
  data: { transaction?: Record<string, unknown>; user?: Record<string, unknown> };
}

/** Bodies above this are not hfts events: refuse them before reading further. */
const MAX_BODY_BYTES = 1024 * 1024;

/**
 * An HTTP server that calls `handle` once per event. `seen` remembers handled event ids; keep it in your
 * database in production (a receiver that restarts must still drop a re-sent event).
 */
export function webhookReceiver(
  secret: string,
  handle: (event: HftsEvent) => Promise<void> | void,
  seen: Set<string> = new Set(),
): Server {
  const webhook = new Webhook(secret);
  return createServer((req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(405).end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) req.destroy();
      else chunks.push(chunk);
    });
    req.on('end', () => {
      // Verify the exact bytes received, before parsing: the signature covers the raw body.
      const body = Buffer.concat(chunks).toString('utf8');
      let event: HftsEvent;
      try {
        // Checks the HMAC of "id.timestamp.body" and that the timestamp is within 5 minutes (replays).
        event = webhook.verify(body, standardHeaders(req.headers)) as HftsEvent;
      } catch {
        res.writeHead(400).end();
        return;
      }
      if (seen.has(event.id)) {
        res.writeHead(204).end();
        return;
      }
      Promise.resolve(handle(event)).then(
        () => {
          seen.add(event.id);
          res.writeHead(204).end();
        },
        () => res.writeHead(500).end(), // not handled: hfts will send it again
      );
    });
  });
}

function standardHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const pick = (name: string): string => {
    const v = headers[name];
    return Array.isArray(v) ? v.join(' ') : (v ?? '');
  };
  return {
    'webhook-id': pick('webhook-id'),
    'webhook-timestamp': pick('webhook-timestamp'),
    'webhook-signature': pick('webhook-signature'),
  };
}

if (require.main === module) {
  const secret = process.env.WEBHOOK_SECRET;
  if (!secret) throw new Error('set WEBHOOK_SECRET to the secret POST /api/v1/webhooks returned');
  const port = Number(process.env.PORT ?? 8080);
  webhookReceiver(secret, (event) => {
    process.stdout.write(`${event.sequence} ${event.type} ${event.id}\n`);
  }).listen(port, () => process.stdout.write(`listening on :${port}\n`));
}
