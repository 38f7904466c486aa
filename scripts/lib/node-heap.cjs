/* global module */
// The service's V8 heap limit, passed by `npm start`, the bench and the Docker image (Dockerfile's
// NODE_OPTIONS, checked against this by test/unit/deployment.spec.ts).
//
// Without a limit V8 sizes the old generation from the machine's memory (about 4 GB on 24 GiB) and, far from
// it, collects lazily: under 64 connections of transfers the heap grew to 250 MB while 60-70 MB of it was
// live, and RSS reached 340-440 MB. With 192 MB V8 collects as it goes: RSS stays near 200 MB with the same
// CPU per transfer (bench, 127.0.0.1, 4 x 10 s of uniform transfers: 0.91-0.93 ms against 0.94-0.96 ms).
// NODE_OPTIONS with its own --max-old-space-size wins.
'use strict';

const HEAP_MB = 192;

/** The node arguments that start the service with the heap limit, unless NODE_OPTIONS already sets one. */
function serviceNodeArgs(env = process.env) {
  return /--max-old-space-size/.test(env.NODE_OPTIONS ?? '') ? [] : [`--max-old-space-size=${HEAP_MB}`];
}

module.exports = { HEAP_MB, serviceNodeArgs };
