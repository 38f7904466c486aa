import request from 'supertest';
import { startTestApp, type TestApp } from '../support/app';

describe('service foundation', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers liveness and readiness against the real database', async () => {
    await request(t.server).get('/health/live').expect(200, { status: 'ok' });
    const ready = await request(t.server).get('/health/ready').expect(200);
    expect(ready.body.details.database.status).toBe('up');
  });

  it('echoes a sane X-Request-Id and replaces an insane one', async () => {
    const echoed = await request(t.server).get('/health/live').set('X-Request-Id', 'abc-123');
    expect(echoed.headers['x-request-id']).toBe('abc-123');
    const replaced = await request(t.server).get('/health/live').set('X-Request-Id', 'x'.repeat(500));
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers an unknown route with a problem-details 404', async () => {
    const res = await request(t.server).get('/api/v1/does-not-exist').expect(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
      requestId: res.headers['x-request-id'],
    });
  });

  it('serves the OpenAPI 3 document, Swagger UI and ReDoc from local assets', async () => {
    const doc = await request(t.server).get('/docs-json').expect(200);
    expect(doc.body.openapi).toMatch(/^3\./);
    expect(doc.body.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    const ui = await request(t.server).get('/docs').expect(200);
    expect(ui.text).not.toMatch(/https?:\/\/(cdn|unpkg|cdnjs)/);
    const redoc = await request(t.server).get('/redoc').expect(200);
    expect(redoc.text).toContain('/redoc/redoc.standalone.js');
    await request(t.server).get('/redoc/redoc.standalone.js').expect(200);
  });

  it('exposes Prometheus metrics with the HTTP duration histogram', async () => {
    await request(t.server).get('/health/live');
    const res = await request(t.server).get('/metrics').expect(200);
    expect(res.text).toContain('http_request_duration_seconds_bucket');
    expect(res.text).toContain('process_resident_memory_bytes');
  });

  it('refuses a body over the size limit with 413 and malformed JSON with 400', async () => {
    const big = await request(t.server)
      .post('/api/v1/auth/login')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ email: 'a@b.co', password: 'x'.repeat(20000) }));
    expect(big.status).toBe(413);
    expect(big.body.code).toBe('PAYLOAD_TOO_LARGE');
    const bad = await request(t.server)
      .post('/api/v1/auth/login')
      .set('Content-Type', 'application/json')
      .send('{"email":');
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('MALFORMED_JSON');
  });

  it('sets security headers', async () => {
    const res = await request(t.server).get('/health/live');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
  });
});
