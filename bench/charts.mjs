// The charts of BENCHMARKS.md, as SVG files written by Vega-Lite (compiled to Vega and rendered headless:
// no browser, no canvas). One per question: how the service does against pgbench per scenario and server;
// where the service's CPU per transfer goes by area of the profile; CPU per transfer of the service and
// PostgreSQL against pgbench's.
import { mkdirSync, writeFileSync } from 'node:fs';
import * as vega from 'vega';
import { compile } from 'vega-lite';

export const CHART_DIR = 'bench/charts';

async function render(file, spec) {
  const view = new vega.View(
    vega.parse(compile({ $schema: 'https://vega.github.io/schema/vega-lite/v6.json', ...spec }).spec),
    {
      renderer: 'none',
    },
  );
  writeFileSync(`${CHART_DIR}/${file}`, await view.toSVG());
  view.finalize();
  return `${CHART_DIR}/${file}`;
}

/** `runs`: [{ server: 'embedded' | '127.0.0.1:5432', results, byArea }]. Returns the files written. */
export async function writeCharts(runs) {
  mkdirSync(CHART_DIR, { recursive: true });
  const throughput = [];
  const cpu = [];
  const areas = [];
  for (const { server, results, byArea } of runs) {
    for (const s of results.scenarios) {
      throughput.push({ server, scenario: s.name, who: 'service', tps: s.service.transfersPerSecond });
      if (s.limit)
        throughput.push({
          server,
          scenario: s.name,
          who: 'pgbench, one per transaction',
          tps: s.limit.transfersPerSecond,
        });
    }
    if (results.batch?.available) {
      throughput.push({
        server,
        scenario: 'batch API',
        who: 'service',
        tps: results.batch.service.transfersPerSecond,
      });
    }
    if (results.ceiling) {
      throughput.push({
        server,
        scenario: 'batch API',
        who: 'pgbench, set-based ceiling',
        tps: results.ceiling.transfersPerSecond,
      });
    }
    const u = results.scenarios[0];
    const push = (who, ms) => ms !== null && ms !== undefined && cpu.push({ server, who, ms });
    push('service', u.service.cpuMsPerTransfer.service);
    push('PostgreSQL (service)', u.service.cpuMsPerTransfer.postgres);
    push('PostgreSQL (pgbench)', u.limit?.postgresCpuMsPerTransfer);
    push('pgbench client', u.limit?.pgbenchCpuMsPerTransfer);
    for (const [area, ms] of Object.entries(byArea?.msPerTransfer ?? {})) areas.push({ server, area, ms });
  }
  const files = [];
  files.push(
    await render('service-vs-pgbench.svg', {
      title: 'Transfers per second: the service against pgbench running the same SQL, in the same run',
      data: { values: throughput },
      mark: 'bar',
      encoding: {
        column: { field: 'server', type: 'nominal', title: 'PostgreSQL' },
        x: { field: 'scenario', type: 'nominal', title: null, sort: null },
        xOffset: { field: 'who' },
        y: { field: 'tps', type: 'quantitative', title: 'transfers/s' },
        color: { field: 'who', type: 'nominal', title: null, legend: { orient: 'bottom' } },
      },
      width: 300,
      height: 220,
    }),
  );
  if (cpu.length) {
    files.push(
      await render('cpu-per-transfer.svg', {
        title: 'CPU ms per transfer, uniform scenario (service against pgbench in the same run)',
        data: { values: cpu },
        mark: 'bar',
        encoding: {
          row: { field: 'server', type: 'nominal', title: 'PostgreSQL' },
          y: { field: 'who', type: 'nominal', title: null, sort: null },
          x: { field: 'ms', type: 'quantitative', title: 'CPU ms per transfer' },
          color: { field: 'who', type: 'nominal', legend: null },
        },
        width: 360,
      }),
    );
  }
  if (areas.length) {
    files.push(
      await render('cpu-by-area.svg', {
        title: "The service's CPU ms per transfer by area of its profile (uniform scenario)",
        data: { values: areas },
        mark: 'bar',
        encoding: {
          y: { field: 'server', type: 'nominal', title: 'PostgreSQL' },
          x: { field: 'ms', type: 'quantitative', title: 'CPU ms per transfer', stack: 'zero' },
          color: { field: 'area', type: 'nominal', title: 'area', scale: { scheme: 'tableau20' } },
          order: { field: 'ms', sort: 'descending' },
        },
        width: 420,
      }),
    );
  }
  return files;
}
