import { type ClaimCandidate, planClaims } from '../../src/webhooks/claim-plan';

/** `owners` owners with `each` endpoints whose attempts hang, plus one healthy endpoint of its own owner. */
function hangingAndHealthy(owners: number, each: number, inFlight: (o: number, e: number) => number) {
  const candidates: ClaimCandidate[] = [];
  for (let o = 0; o < owners; o++) {
    const held = Array.from({ length: each }, (_, e) => inFlight(o, e));
    const ownerInFlight = held.reduce((a, b) => a + b, 0);
    for (let e = 0; e < each; e++) {
      candidates.push({
        endpointId: `o${o}e${e}`,
        ownerId: `o${o}`,
        inFlight: held[e],
        ownerInFlight,
        due: 100,
      });
    }
  }
  // The healthy endpoint's job is the newest: listed last, as the claim lists the oldest due first.
  candidates.push({ endpointId: 'healthy', ownerId: 'h', inFlight: 0, ownerInFlight: 0, due: 5 });
  return candidates;
}

const total = (plan: Map<string, number>, prefix: string): number =>
  [...plan].filter(([id]) => id.startsWith(prefix)).reduce((a, [, n]) => a + n, 0);

describe('the fair claim plan', () => {
  it('gives the healthy endpoint a slot in every claim, behind 4 owners x 10 hanging endpoints', () => {
    // Round after round: whatever the hanging owners already hold, one free slot goes to the healthy one.
    for (const held of [1, 2]) {
      const plan = planClaims(
        hangingAndHealthy(4, 10, (_, e) => (e < 4 ? held : 0)),
        { room: 1, perEndpoint: 2, perOwner: 8 },
      );
      expect([...plan]).toEqual([['healthy', 1]]);
    }
  });

  it('holds each owner to perOwner and each endpoint to perEndpoint, however much room there is', () => {
    const plan = planClaims(
      hangingAndHealthy(4, 10, () => 0),
      { room: 256, perEndpoint: 2, perOwner: 8 },
    );
    for (let o = 0; o < 4; o++) expect(total(plan, `o${o}e`)).toBe(8);
    expect(Math.max(...plan.values())).toBeLessThanOrEqual(2);
    expect(plan.get('healthy')).toBe(2);
    // Spread over endpoints before doubling up: eight endpoints of each owner get one each.
    for (let o = 0; o < 4; o++) {
      expect([...plan].filter(([id]) => id.startsWith(`o${o}e`)).map(([, n]) => n)).toEqual(Array(8).fill(1));
    }
  });

  it('counts what is in flight already: an owner at its bound gets nothing, the others share the room', () => {
    const plan = planClaims(
      hangingAndHealthy(4, 10, (o, e) => (o === 0 && e < 4 ? 2 : 0)),
      { room: 10, perEndpoint: 2, perOwner: 8 },
    );
    expect(total(plan, 'o0e')).toBe(0);
    // Ten slots, four owners with room: the healthy one (holding none) first, then round robin.
    expect(plan.get('healthy')).toBe(2);
    expect([1, 2, 3].map((o) => total(plan, `o${o}e`)).sort()).toEqual([2, 3, 3]);
  });

  it('never claims more than an endpoint has due, nor more than the room', () => {
    expect(
      planClaims([{ endpointId: 'a', ownerId: 'x', inFlight: 0, ownerInFlight: 0, due: 1 }], {
        room: 5,
        perEndpoint: 2,
        perOwner: 8,
      }),
    ).toEqual(new Map([['a', 1]]));
    expect(
      planClaims(
        hangingAndHealthy(2, 3, () => 0),
        { room: 0, perEndpoint: 2, perOwner: 8 },
      ).size,
    ).toBe(0);
  });
});
