/* global module */
'use strict';
// Plain CommonJS, so that jest (ts-jest, CommonJS) and the ES-module bench load this same file. node:net
// comes through process.getBuiltinModule because the lint config gives scripts no `require` global.
const { createServer } = process.getBuiltinModule('node:net');

/**
 * A TCP port free on 127.0.0.1 at this moment: the OS picks one for a listener that is closed at once.
 * Another process may take it before the caller binds it; on one test machine that has not been seen.
 */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

module.exports = { freePort };
