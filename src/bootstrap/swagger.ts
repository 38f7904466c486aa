import { readFileSync } from 'node:fs';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { ProblemDetailsDto } from '../common/http/problem-details.dto';

const REDOC_HTML = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>HFTS API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><redoc spec-url="/docs-json"></redoc><script src="/redoc/redoc.standalone.js"></script></body></html>`;

/** Swagger UI at /docs, the OpenAPI document at /docs-json, ReDoc at /redoc; all assets served locally. */
export function setupDocs(app: NestFastifyApplication): void {
  const config = new DocumentBuilder()
    .setTitle('High-frequency transaction service')
    .setDescription(
      'Users, wallets and atomic transfers. Money is a decimal string with up to 4 decimals; errors are ' +
        'RFC 9457 problem details with a stable `code`. Register, log in, click **Authorize** and paste the token.',
    )
    .setVersion('1.0.0')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }, 'bearer')
    .build();
  const document = SwaggerModule.createDocument(app, config, { extraModels: [ProblemDetailsDto] });
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs-json',
    yamlDocumentUrl: 'docs-yaml',
    customSiteTitle: 'HFTS API',
    swaggerOptions: { persistAuthorization: true, displayRequestDuration: true },
  });
  const redocScript = readFileSync(require.resolve('redoc/bundles/redoc.standalone.js'));
  const fastify = app.getHttpAdapter().getInstance();
  fastify.get('/redoc', (_req, reply) => {
    void reply.type('text/html; charset=utf-8').send(REDOC_HTML);
  });
  fastify.get('/redoc/redoc.standalone.js', (_req, reply) => {
    void reply
      .type('application/javascript; charset=utf-8')
      .header('Cache-Control', 'public, max-age=86400')
      .send(redocScript);
  });
}
