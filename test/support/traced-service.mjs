// The built service with its spans kept in memory: starts tracing (dist/src/tracing-sdk.js) with an
// InMemorySpanExporter before main.js loads (main's own `import './tracing'` then finds it started), and
// answers the parent's 'spans' message with every finished span, over the IPC channel.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace');

const exporter = new InMemorySpanExporter();
require('../../dist/src/tracing-sdk.js').startTracing(process.env, {
  spanProcessors: [new SimpleSpanProcessor({ exporter })],
});
process.on('message', (message) => {
  if (message !== 'spans') return;
  const spans = exporter.getFinishedSpans().map((s) => ({
    name: s.name,
    kind: s.kind,
    traceId: s.spanContext().traceId,
    spanId: s.spanContext().spanId,
    parentSpanId: s.parentSpanContext?.spanId,
    scope: s.instrumentationScope.name,
    attributes: s.attributes,
  }));
  process.send({ spans });
});
require('../../dist/src/main.js');
