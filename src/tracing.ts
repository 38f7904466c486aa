// The first module main.ts loads: OpenTelemetry must patch http, fastify and pg before anything requires
// them. See tracing-sdk.ts.
import { startTracing } from './tracing-sdk';

startTracing();
