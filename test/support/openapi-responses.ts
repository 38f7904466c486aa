import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

/**
 * Checks real HTTP answers against an OpenAPI 3.0 document: the operation exists, the status is one it
 * declares, every required header is sent and every declared header sent matches its schema, the media
 * type is declared, and the body validates against the declared schema. Schemas are validated by ajv (which
 * knows OpenAPI's `nullable`) with ajv-formats for uuid and date-time; OpenAPI-only keywords (`example`)
 * are annotations. Returns the disagreements, one line each; none when the answer is as documented.
 */

interface Reference {
  $ref: string;
}
interface HeaderObject {
  required?: boolean;
  schema?: Record<string, unknown>;
}
interface ResponseObject {
  headers?: Record<string, HeaderObject | Reference>;
  content?: Record<string, { schema?: Record<string, unknown> }>;
}
export interface OpenApiDocument {
  paths: Record<string, Record<string, { responses: Record<string, ResponseObject | Reference> }>>;
  components?: Record<string, Record<string, unknown>>;
}

export interface Exchange {
  method: string;
  url: string;
  status: number;
  headers: Headers;
  /** The raw body text. */
  body: string;
}

const DOC_ID = 'openapi.json';

export class OpenApiResponseValidator {
  private readonly ajv: Ajv;
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly routes: Array<{ template: string; pattern: RegExp; literal: number }>;

  constructor(private readonly doc: OpenApiDocument) {
    // strict: false because an OpenAPI document is not a JSON Schema: its `example`, `paths`, `info` and the
    // like are unknown keywords to ajv, to be ignored, not refused. The schemas themselves are checked by
    // Redocly (npm run openapi:lint).
    this.ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
    addFormats(this.ajv);
    this.ajv.addSchema(doc, DOC_ID);
    this.routes = Object.keys(doc.paths)
      .map((template) => ({
        template,
        pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
        literal: template.replace(/\{[^}]+\}/g, '').length,
      }))
      // /wallets/me before a /wallets/{id}, should both exist: the more literal template wins.
      .sort((a, b) => b.literal - a.literal);
  }

  problems(x: Exchange): string[] {
    const path = new URL(x.url).pathname;
    const where = `${x.method} ${path} -> ${x.status}`;
    const route = this.routes.find((r) => r.pattern.test(path));
    const operation = route && this.doc.paths[route.template][x.method.toLowerCase()];
    if (!route || !operation) return [`${where}: no such operation in the document`];
    const declared = operation.responses[String(x.status)] ?? operation.responses.default;
    if (!declared) return [`${where}: status ${x.status} is not documented`];
    const response = this.resolve<ResponseObject>(declared);
    const problems: string[] = [];

    for (const [name, h] of Object.entries(response.headers ?? {})) {
      const header = this.resolve<HeaderObject>(h);
      const value = x.headers.get(name);
      if (value === null) {
        if (header.required) problems.push(`${where}: required header ${name} missing`);
        continue;
      }
      if (!header.schema) continue;
      const type = (this.resolve<Record<string, unknown>>(header.schema) as { type?: string }).type;
      const parsed = type === 'integer' || type === 'number' ? Number(value) : value;
      problems.push(...this.check(header.schema, parsed, `${where}: header ${name}`));
    }

    const mediaType = (x.headers.get('content-type') ?? '').split(';')[0].trim();
    if (!response.content) {
      if (x.body.length > 0) problems.push(`${where}: a body where the document declares none`);
      return problems;
    }
    const media = response.content[mediaType];
    if (!media) {
      problems.push(
        `${where}: media type "${mediaType}" is not one of ${Object.keys(response.content).join(', ')}`,
      );
      return problems;
    }
    if (!media.schema) return problems;
    let body: unknown = x.body;
    if (/json/.test(mediaType)) {
      try {
        body = JSON.parse(x.body);
      } catch {
        problems.push(`${where}: body is not JSON`);
        return problems;
      }
    }
    problems.push(...this.check(media.schema, body, `${where}: body`));
    return problems;
  }

  private check(schema: Record<string, unknown>, value: unknown, where: string): string[] {
    const validate = this.compile(schema);
    if (validate(value)) return [];
    return (validate.errors ?? []).map(
      (e) => `${where}${e.instancePath || ''} ${e.message ?? 'is invalid'} ${JSON.stringify(e.params)}`,
    );
  }

  /** Local `$ref`s point into the document, which ajv holds under DOC_ID. */
  private compile(schema: Record<string, unknown>): ValidateFunction {
    const key = JSON.stringify(schema);
    let validate = this.compiled.get(key);
    if (!validate) {
      const rebased = JSON.parse(key.replace(/"\$ref":"#\//g, `"$ref":"${DOC_ID}#/`)) as object;
      validate = this.ajv.compile(rebased);
      this.compiled.set(key, validate);
    }
    return validate;
  }

  private resolve<T>(node: T | Reference): T {
    let current: unknown = node;
    while (current && typeof current === 'object' && '$ref' in current) {
      const segments = (current as Reference).$ref.replace(/^#\//, '').split('/');
      current = segments.reduce<unknown>((at, s) => (at as Record<string, unknown>)[s], this.doc);
    }
    return current as T;
  }
}
