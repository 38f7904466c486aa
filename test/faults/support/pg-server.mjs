// Runs the embedded PostgreSQL in a process of its own (jest cannot import the ES module package):
// node pg-server.mjs <dataDir> <port>. Prints READY; SIGTERM stops the server (fast shutdown) and exits.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { startEmbeddedDatabase } = require('../../../dist/src/bootstrap/embedded-database.js');
const [dataDir, port] = process.argv.slice(2);
const db = await startEmbeddedDatabase({ dataDir, database: 'hfts_faults', port: Number(port) });
process.stdout.write('READY\n');
process.on('SIGTERM', () => {
  void db.stop().then(() => process.exit(0));
});
setInterval(() => undefined, 60000);
