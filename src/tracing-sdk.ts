import { FastifyOtelInstrumentation } from '@fastify/otel';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace';

/** Requests that are not worth a trace: probes and scrapes, every few seconds from every instance. */
const UNTRACED = new Set(['/health/live', '/health/ready', '/metrics']);

let sdk: NodeSDK | undefined;
let started = false;

/**
 * Starts OpenTelemetry (src/tracing.ts calls it before any other module of the app is loaded, so that
 * http, fastify and pg are patched when they are first required) when OTEL_EXPORTER_OTLP_ENDPOINT (or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set: spans go there by OTLP, protobuf over HTTP, a caller's W3C
 * traceparent is continued and log lines carry the trace id. Unset: nothing starts, nothing costs.
 * OTEL_SDK_DISABLED=true turns it off too.
 *
 * The SDK reads its own standard OTEL_* variables (service name, sampler, headers...): they are the
 * OpenTelemetry contract, read here because this runs before the app's config module exists.
 * `spanProcessors` replaces the exporter (the tracing test passes an in-memory one). Metrics stay on
 * Prometheus (/metrics) and logs on stdout: the SDK is given no metric reader and no log processor.
 */
export function startTracing(
  env: NodeJS.ProcessEnv = process.env,
  options: { spanProcessors?: SpanProcessor[] } = {},
): void {
  if (started) return;
  started = true;
  const exporting = Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  // With nowhere to send spans, no SDK: even unrecorded spans cost 14% of the requests per second of
  // GET /wallets/me (recorded ones 18%), measured on the built service (docs/OBSERVABILITY.md).
  if (!exporting && !options.spanProcessors) return;
  sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ?? 'hfts',
    spanProcessors: options.spanProcessors ?? [new BatchSpanProcessor({ exporter: new OTLPTraceExporter() })],
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => UNTRACED.has((req.url ?? '').split('?')[0]),
        // The service calls nothing over HTTP but PostgreSQL and Redis: no client spans to make.
        disableOutgoingRequestInstrumentation: true,
      }),
      // The request and handler spans of each route; not one span per hook (helmet, request id, ...).
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        instrumentHooks: false,
        ignorePaths: (route) => UNTRACED.has(route.url),
      }),
      // A span per query, only inside a trace (no orphan spans for the pool's own work).
      new PgInstrumentation({ requireParentSpan: true }),
    ],
  });
  sdk.start();
}

/** Sends the spans still buffered (a graceful stop calls it before exiting). */
export async function stopTracing(): Promise<void> {
  await sdk?.shutdown();
  sdk = undefined;
}
