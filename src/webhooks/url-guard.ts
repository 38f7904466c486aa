import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/** Where a webhook may be sent: the parsed URL and the address to connect to (checked, never re-resolved). */
export interface WebhookTarget {
  url: URL;
  address: string;
  family: 4 | 6;
}

/** Why a URL is refused; the message goes into the 400 WEBHOOK_URL_REFUSED detail and the delivery log. */
export class UrlRefused extends Error {}

/**
 * ::/96, the IPv4-compatible IPv6 addresses (deprecated by RFC 4291 2.5.5.1; `::` and `::1` sit in it too).
 * ipaddr.js calls `::7f00:1` (what WHATWG URL makes of `[::127.0.0.1]`) public unicast, and misreads
 * `::127.0.0.1` as IPv4-mapped; node's BlockList parses both as written.
 */
const IPV4_COMPATIBLE = new BlockList();
IPV4_COMPATIBLE.addSubnet('::', 96, 'ipv6');

/** What a refusal of the host says, whatever the reason: never the address a name resolved to. */
const HOST_REFUSED = 'url host is not allowed: it must resolve only to public addresses';

/**
 * Only public unicast addresses. ipaddr.js names every special-purpose range (loopback, private, link-local,
 * unique-local, carrier-grade NAT, multicast, reserved, documentation, 6to4, Teredo, NAT64...) and calls
 * the rest `unicast`; `process` turns an IPv4-mapped IPv6 address (::ffff:127.0.0.1) into its IPv4 form
 * first, so a mapped loopback is loopback. The deprecated IPv4-compatible form is refused whatever it embeds.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  if (isIP(address) === 6 && IPV4_COMPATIBLE.check(address, 'ipv6')) return false;
  return ipaddr.process(address).range() === 'unicast';
}

/**
 * Checks a webhook URL and resolves it to one address to connect to (SSRF guard). Without `allowPrivate`:
 * https only, no credentials in the URL, and every address the host resolves to must be public (one
 * private answer is enough to refuse: a resolver may hand out either). Called at registration and again
 * at every delivery, whose connection then goes to the returned address: a DNS answer that changes
 * between the check and the connection (rebinding) cannot redirect it.
 */
export async function resolveWebhookTarget(raw: string, allowPrivate: boolean): Promise<WebhookTarget> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UrlRefused('url is not an absolute URL');
  }
  if (url.protocol !== 'https:' && !(allowPrivate && url.protocol === 'http:')) {
    throw new UrlRefused('url must use https');
  }
  if (url.username || url.password) throw new UrlRefused('url must not carry credentials');
  // WHATWG URL has already normalised the host (0x7f.1 and 2130706433 are 127.0.0.1); IPv6 comes bracketed.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let answers: Array<{ address: string; family: number }>;
  if (isIP(host)) {
    answers = [{ address: host, family: isIP(host) }];
  } else {
    try {
      answers = await lookup(host, { all: true, verbatim: true });
    } catch {
      answers = [];
    }
  }
  // One message for a name that does not resolve and one that resolves to a refused address: telling them
  // apart, or naming the address, would let a caller map the internal DNS through this refusal.
  if (answers.length === 0) throw new UrlRefused(HOST_REFUSED);
  if (!allowPrivate && answers.some((a) => !isPublicAddress(a.address))) throw new UrlRefused(HOST_REFUSED);
  const chosen = answers[0];
  return { url, address: chosen.address, family: chosen.family === 6 ? 6 : 4 };
}
