import 'reflect-metadata';
import { type DynamicModule, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { AppModule, type AppModuleOptions } from './app.module.js';
import { ApiError, responseSchema } from './common/openapi.js';
import type { HubConfig } from './config/hub-config.js';
import { MetricsRegistry } from './metrics/metrics.registry.js';

export interface CreateAppOptions {
  /** See AppModuleOptions.broker. */
  broker: AppModuleOptions['broker'];
  extraModules?: NonNullable<DynamicModule['imports']>;
  /** Nest's logger; false silences it (tests). */
  logger?: LogLevel[] | false;
}

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

export function openApiDocument(app: NestFastifyApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('fleet hub')
    .setDescription('Devices, fleets, provisioning, releases, objects, telemetry, logs, users and audit.')
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'API token (fleet_...)' })
    .addCookieAuth('fleet_session')
    .addBasicAuth({
      type: 'http',
      scheme: 'basic',
      description: 'devices: device:<id> and the broker password',
    })
    .build();
  const doc = SwaggerModule.createDocument(app, config);
  // Every error answer has one shape (common/validation): declared once, referenced by every
  // operation as its `default` response, so clients can type their error handling.
  doc.components = {
    ...doc.components,
    schemas: { ...doc.components?.schemas, ApiError: responseSchema(ApiError) as never },
  };
  for (const item of Object.values(doc.paths)) {
    for (const method of ['get', 'put', 'post', 'delete', 'patch', 'head'] as const) {
      const op = item[method];
      if (op && !op.responses.default) {
        op.responses.default = {
          description: 'Error: 4xx with field issues for bad input, 401/403/404/409/413/422, 5xx',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/ApiError' } } },
        };
      }
    }
  }
  return doc;
}

/**
 * Builds the hub's HTTP application (not listening): Nest 12 on Fastify, every module wired by
 * DI, OpenAPI at /api/docs and /api/docs-json. Tests call this with their own config and use
 * `app.inject()` or `app.listen(0)`. main.ts adds migrations, the first admin, retention jobs
 * and signals.
 */
export async function createApp(
  config: HubConfig,
  options: CreateAppOptions,
): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({ bodyLimit: config.bodyLimitBytes, trustProxy: config.trustProxy });
  const fastify = adapter.getInstance();
  // Object uploads are streamed to disk, never buffered: hand the raw stream to the handler.
  fastify.addContentTypeParser(
    'application/octet-stream',
    { bodyLimit: config.maxObjectBytes },
    (_req, payload, done) => done(null, payload),
  );
  const logger =
    options.logger === false
      ? false
      : (options.logger ?? LEVELS.slice(0, LEVELS.indexOf(config.logLevel) + 1));
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot({
      config,
      broker: options.broker,
      ...(options.extraModules ? { extraModules: options.extraModules } : {}),
    }),
    adapter,
    { logger, abortOnError: false },
  );
  const metrics = app.get(MetricsRegistry);
  const requests = metrics.counter(
    'fleet_hub_http_requests_total',
    'HTTP requests by method, route and status.',
  );
  const latency = metrics.histogram('fleet_hub_http_request_duration_seconds', 'HTTP request latency.');
  fastify.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    latency.observe(reply.elapsedTime / 1000, { method: req.method, route });
  });
  const doc = openApiDocument(app);
  SwaggerModule.setup('api/docs', app, doc, { jsonDocumentUrl: 'api/docs-json' });
  await app.init();
  return app;
}
