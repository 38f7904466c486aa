/** An endpoint with due work, as the claim found it (its row locked), with what is in flight already. */
export interface ClaimCandidate {
  endpointId: string;
  ownerId: string;
  /** Attempts in flight to this endpoint, on every instance. */
  inFlight: number;
  /** Attempts in flight to all of the owner's endpoints, on every instance. */
  ownerInFlight: number;
  /** Due jobs it has (at most what the claim may take for it anyway). */
  due: number;
}

export interface ClaimBounds {
  /** Free delivery slots on this instance. */
  room: number;
  /** WEBHOOK_ENDPOINT_CONCURRENCY. */
  perEndpoint: number;
  /** Attempts in flight at once to all the endpoints of one owner. */
  perOwner: number;
}

/**
 * How many jobs to claim for each endpoint: one slot at a time to the owner with the fewest attempts in
 * flight, and within an owner to the endpoint with the fewest (the order of `candidates` breaks ties:
 * the claim lists them oldest due first). Max-min fairness: an owner whose receivers hang holds at most
 * `perOwner` slots and never gets one before an owner with fewer, so a healthy endpoint is served in the
 * first claim after its job comes due, whatever the backlog of others (issue 21, item 4). Pure.
 */
export function planClaims(candidates: ClaimCandidate[], bounds: ClaimBounds): Map<string, number> {
  const plan = new Map<string, number>();
  const owners = new Map<string, number>();
  for (const c of candidates) owners.set(c.ownerId, Math.max(owners.get(c.ownerId) ?? 0, c.ownerInFlight));
  const load = candidates.map((c) => ({ c, taken: 0 }));
  for (let room = bounds.room; room > 0; room--) {
    let best: (typeof load)[number] | undefined;
    let bestKey: [number, number] = [Infinity, Infinity];
    for (const l of load) {
      const endpointLoad = l.c.inFlight + l.taken;
      const ownerLoad = owners.get(l.c.ownerId)!;
      if (l.taken >= l.c.due || endpointLoad >= bounds.perEndpoint || ownerLoad >= bounds.perOwner) continue;
      if (ownerLoad < bestKey[0] || (ownerLoad === bestKey[0] && endpointLoad < bestKey[1])) {
        best = l;
        bestKey = [ownerLoad, endpointLoad];
      }
    }
    if (!best) break;
    best.taken += 1;
    owners.set(best.c.ownerId, owners.get(best.c.ownerId)! + 1);
    plan.set(best.c.endpointId, best.taken);
  }
  return plan;
}
