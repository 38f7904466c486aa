'use strict';
// Runs in each of the password hasher's worker threads (piscina): bcryptjs, synchronously, off the main
// thread. Plain JavaScript, so that the same file runs under ts-jest (from src/auth/) and in the built
// service (nest build copies it to dist/src/auth/: nest-cli.json "assets"). A bcrypt error is answered,
// not thrown, so that it stays the caller's error and never a worker's crash.
const bcrypt = require('bcryptjs');

/**
 * @param {{ op: 'hash', password: string, cost: number } | { op: 'compare', password: string, hash: string }} task
 * @returns {{ result: string | boolean } | { error: string }}
 */
module.exports = function passwordHashTask(task) {
  try {
    const result =
      task.op === 'hash'
        ? bcrypt.hashSync(task.password, task.cost)
        : bcrypt.compareSync(task.password, task.hash);
    return { result };
  } catch (err) {
    return { error: err && err.message ? err.message : String(err) };
  }
};
