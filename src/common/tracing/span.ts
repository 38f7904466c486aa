import { type Attributes, SpanStatusCode, trace } from '@opentelemetry/api';

/** A no-op until src/tracing.ts has registered a tracer provider (tests that build the app alone). */
const tracer = trace.getTracer('hfts');

/**
 * Runs `work` inside a span named `name` (a child of the active span: the request's, for an engine write
 * that a request started). A failure is recorded on the span and rethrown.
 */
export function inSpan<T>(name: string, attributes: Attributes, work: () => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await work();
    } catch (err) {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw err;
    } finally {
      span.end();
    }
  });
}
