import type { z } from 'zod';

/** One problem found in an input, located by a JSON path such as `$.containers.web.volumes[0].path`. */
export interface Issue {
  path: string;
  code: string;
  message: string;
}

/**
 * The only error protocol parsers produce. It is returned, never thrown: callers on the wire
 * (hub ingest, agent link) must be able to drop a bad message without a try/catch around
 * every call.
 */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    /** What was being parsed, e.g. `RevisionManifest` or `mqtt:report`. */
    readonly subject: string,
    readonly issues: readonly Issue[],
  ) {
    super(`${subject} is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  }
}

export type Result<T, E = ProtocolError> = { ok: true; value: T } | { ok: false; error: E };

export const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });
export const err = <E>(error: E): { ok: false; error: E } => ({ ok: false, error });

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Formats a zod/JS path as a JSON path: `$.a.b[0]["odd key"]`. */
export function jsonPath(path: readonly PropertyKey[]): string {
  let out = '$';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && IDENTIFIER.test(seg)) out += `.${seg}`;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out;
}

type ZodIssue = z.core.$ZodIssue;

/**
 * Flattens zod issues into path-naming issues. Zod reports a bad record key or a failed union
 * as one generic issue ("Invalid key in record", "Invalid input") with the useful messages
 * nested inside; those nested ones are what a user needs to read.
 */
export function issuesFromZod(error: z.ZodError): Issue[] {
  return flatten(error.issues, []);
}

function flatten(issues: readonly ZodIssue[], prefix: readonly PropertyKey[]): Issue[] {
  return issues.flatMap((i): Issue[] => {
    const path = [...prefix, ...i.path];
    if (i.code === 'invalid_key' && i.issues.length > 0) return flatten(i.issues, path);
    if (i.code === 'invalid_union' && i.errors.length > 0) {
      // The branch that got furthest is the one the input was meant for: a branch failing only on
      // the root type ("expected number, received string") is not it.
      const meant = i.errors.find((branch) =>
        branch.some((b) => b.code !== 'invalid_type' || b.path.length > 0),
      );
      if (meant) return flatten(meant, path);
    }
    return [{ path: jsonPath(path), code: i.code, message: i.message }];
  });
}

/**
 * Runs a schema and folds every failure, including an exception thrown by a transform or by
 * pathological input (deep nesting), into a ProtocolError.
 */
export function parseWith<S extends z.ZodType>(
  subject: string,
  schema: S,
  input: unknown,
): Result<z.output<S>> {
  try {
    const r = schema.safeParse(input);
    if (r.success) return ok(r.data);
    return err(new ProtocolError(subject, issuesFromZod(r.error)));
  } catch (e) {
    return err(new ProtocolError(subject, [{ path: '$', code: 'unparseable', message: describe(e) }]));
  }
}

export function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
