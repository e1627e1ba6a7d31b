import { BadRequestException, Query, type PipeTransform } from '@nestjs/common';
import { ApiQuery } from '@nestjs/swagger';
import { jsonPath } from '@fleet/protocol';
import { z } from 'zod';

export interface FieldError {
  /** JSON path of the offending field: `$.maxUses`, `$.tags[1]`. */
  path: string;
  message: string;
}

/** The body of every 400 caused by bad input. */
export interface ValidationErrorBody {
  statusCode: 400;
  error: 'Bad Request';
  message: string;
  issues: FieldError[];
}

export function validationError(where: string, issues: FieldError[]): BadRequestException {
  const body: ValidationErrorBody = {
    statusCode: 400,
    error: 'Bad Request',
    message: `invalid ${where}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    issues,
  };
  return new BadRequestException(body);
}

/** Parses with a zod schema or throws a 400 naming every bad field. */
export function parseOr400<S extends z.ZodType>(schema: S, input: unknown, where = 'request'): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  throw validationError(
    where,
    r.error.issues.map((i) => ({ path: jsonPath(i.path), message: i.message })),
  );
}

/** `@Body(new ZodPipe(Schema, 'body'))`, `@Query(new ZodPipe(Schema, 'query'))`. */
export class ZodPipe<S extends z.ZodType> implements PipeTransform<unknown, z.output<S>> {
  constructor(
    private readonly schema: S,
    private readonly where = 'request body',
  ) {}

  transform(value: unknown): z.output<S> {
    return parseOr400(this.schema, value, this.where);
  }
}

/**
 * The parsed value of a zod schema, for controller parameters: `body: Parsed<CreateFleetRequest>`.
 * A schema and its type share a name (CONVENTIONS 1); without this alias the decorator
 * metadata of some compilers (vite's) would name the zod value as the parameter's class and
 * Swagger would try to explore it as one.
 */
export type Parsed<T> = T;

/** JSON Schema of a zod schema, for the OpenAPI document (input side: defaults are optional). */
export function openApiSchema(schema: z.ZodType): Record<string, unknown> {
  const json = z.toJSONSchema(schema, {
    io: 'input',
    target: 'openapi-3.0',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  delete json.$schema;
  return json;
}

/** A uuid path parameter. */
export const Uuid = z.uuid();

/** Opaque cursor: base64url JSON of the sort key and id of the last row returned. */
export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function decodeCursor<S extends z.ZodType>(schema: S, cursor: string): z.output<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw validationError('query', [
      { path: '$.cursor', message: 'is not a cursor returned by this endpoint' },
    ]);
  }
  const r = schema.safeParse(raw);
  if (!r.success)
    throw validationError('query', [
      { path: '$.cursor', message: 'is not a cursor returned by this endpoint' },
    ]);
  return r.data;
}

/** A page of results; `nextCursor` is null on the last page. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Query-string booleans: `true`/`false`/`1`/`0`. */
export const QueryBool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** A repeatable query parameter arrives as a string or an array of strings. */
export function repeatable<T extends z.ZodType>(item: T) {
  return z.preprocess((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]), z.array(item));
}

/**
 * `@ZodQuery(Schema) q: Parsed<Schema>`: validates the query string with the schema (400 with
 * field errors) and documents each of its properties as an OpenAPI query parameter.
 */
export function ZodQuery(schema: z.ZodObject): ParameterDecorator {
  const pipe = Query(new ZodPipe(schema, 'query'));
  const json = openApiSchema(schema) as {
    properties?: Record<string, Record<string, unknown>>;
    required?: string[];
  };
  return (target, key, index) => {
    pipe(target, key, index);
    if (key === undefined) return;
    const descriptor = Object.getOwnPropertyDescriptor(target, key);
    if (!descriptor) return;
    for (const [name, prop] of Object.entries(json.properties ?? {})) {
      const { description, ...rest } = prop;
      ApiQuery({
        name,
        required: json.required?.includes(name) ?? false,
        schema: rest,
        ...(typeof description === 'string' ? { description } : {}),
      })(target, key, descriptor);
    }
  };
}
