import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { z } from 'zod';

type SchemaObject = Record<string, unknown>;

/**
 * JSON Schema of a response as it goes over the wire (zod output side): Date fields are
 * ISO 8601 strings once serialised.
 */
export function responseSchema(schema: z.ZodType): SchemaObject {
  const json = z.toJSONSchema(schema, {
    io: 'output',
    target: 'openapi-3.0',
    unrepresentable: 'any',
    override: (ctx) => {
      if ((ctx.zodSchema as { _zod: { def: { type: string } } })._zod.def.type === 'date') {
        ctx.jsonSchema.type = 'string';
        ctx.jsonSchema.format = 'date-time';
      }
    },
  }) as SchemaObject;
  delete json.$schema;
  return json;
}

/** Body of every 4xx/5xx answer (the ZodPipe's issues name the JSON path of each bad field). */
export const ApiError = z.object({
  statusCode: z.number().int(),
  message: z.union([z.string(), z.array(z.string())]),
  error: z.string().optional(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
export type ApiError = z.infer<typeof ApiError>;

/** `@Returns(Device)`, `@Returns(z.array(Fleet), 201)`: documents the response body. */
export function Returns(schema: z.ZodType, status = 200): MethodDecorator {
  return applyDecorators(ApiResponse({ status, schema: responseSchema(schema) as never }));
}

/** A cursor page of `item` (common/validation Page). */
export function pageOf(item: z.ZodType) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() });
}
