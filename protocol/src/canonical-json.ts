import { err, ok, ProtocolError, type Result } from './result.js';

/**
 * Canonical JSON per RFC 8785 (JCS): object keys sorted by UTF-16 code units, no whitespace,
 * numbers in ECMAScript shortest form, strings escaped as JSON.stringify does. Two parties that
 * hold the same JSON value produce the same bytes, whatever order the keys arrived in: that is
 * what signatures cover.
 *
 * Throws a TypeError for values JSON cannot carry (NaN, Infinity, bigint, functions, lone
 * surrogates, undefined inside arrays): those are programming errors, not wire input.
 * `undefined` object members are omitted, as JSON.stringify omits them.
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, out, 0);
  return out.join('');
}

const MAX_DEPTH = 256;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function writeString(s: string, out: string[]): void {
  if (LONE_SURROGATE.test(s)) throw new TypeError('canonical JSON: string holds a lone surrogate');
  out.push(JSON.stringify(s));
}

function write(value: unknown, out: string[], depth: number): void {
  if (depth > MAX_DEPTH) throw new TypeError(`canonical JSON: nested deeper than ${MAX_DEPTH}`);
  if (value === null) {
    out.push('null');
    return;
  }
  switch (typeof value) {
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON: ${value} is not a JSON number`);
      // ECMAScript Number::toString is exactly RFC 8785's number form; -0 becomes "0".
      out.push(JSON.stringify(value));
      return;
    case 'string':
      writeString(value, out);
      return;
    case 'object': {
      if (Array.isArray(value)) {
        out.push('[');
        value.forEach((item, i) => {
          if (item === undefined) throw new TypeError('canonical JSON: undefined inside an array');
          if (i > 0) out.push(',');
          write(item, out, depth + 1);
        });
        out.push(']');
        return;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) {
        throw new TypeError('canonical JSON: only plain objects, arrays and primitives');
      }
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      out.push('{');
      entries.forEach(([k, v], i) => {
        if (i > 0) out.push(',');
        writeString(k, out);
        out.push(':');
        write(v, out, depth + 1);
      });
      out.push('}');
      return;
    }
    default:
      throw new TypeError(`canonical JSON: a ${typeof value} is not a JSON value`);
  }
}

/**
 * Parses JSON text like JSON.parse but refuses duplicate object keys (I-JSON, RFC 7493):
 * JSON.parse silently keeps the last duplicate, which would let two readers of one signed
 * document see different values. Returns a ProtocolError naming the path, never throws.
 */
export function parseJsonText(text: string, subject = 'JSON'): Result<unknown> {
  try {
    return ok(new StrictJsonParser(text).parseDocument());
  } catch (e) {
    if (e instanceof JsonSyntaxError) {
      return err(new ProtocolError(subject, [{ path: e.path, code: e.code, message: e.message }]));
    }
    return err(new ProtocolError(subject, [{ path: '$', code: 'invalid_json', message: String(e) }]));
  }
}

class JsonSyntaxError extends Error {
  constructor(
    readonly path: string,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
// eslint-disable-next-line no-control-regex -- JSON forbids raw control characters in strings.
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const WS = /[ \t\n\r]*/y;

class StrictJsonParser {
  private pos = 0;
  constructor(private readonly text: string) {}

  parseDocument(): unknown {
    const v = this.value('$', 0);
    this.ws();
    if (this.pos !== this.text.length)
      this.fail('$', 'invalid_json', `unexpected text at offset ${this.pos}`);
    return v;
  }

  private fail(path: string, code: string, message: string): never {
    throw new JsonSyntaxError(path, code, message);
  }

  private ws(): void {
    WS.lastIndex = this.pos;
    WS.exec(this.text);
    this.pos = WS.lastIndex;
  }

  private value(path: string, depth: number): unknown {
    if (depth > MAX_DEPTH) this.fail(path, 'too_deep', `nested deeper than ${MAX_DEPTH}`);
    this.ws();
    const c = this.text[this.pos];
    if (c === '{') return this.object(path, depth);
    if (c === '[') return this.array(path, depth);
    if (c === '"') return this.string(path);
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return v;
      }
    }
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text);
    if (m) {
      this.pos = NUMBER.lastIndex;
      return Number(m[0]);
    }
    return this.fail(
      path,
      'invalid_json',
      `unexpected ${c === undefined ? 'end of input' : JSON.stringify(c)} at offset ${this.pos}`,
    );
  }

  private string(path: string): string {
    STRING.lastIndex = this.pos;
    const m = STRING.exec(this.text);
    if (!m) return this.fail(path, 'invalid_json', `bad string at offset ${this.pos}`);
    this.pos = STRING.lastIndex;
    return JSON.parse(m[0]) as string;
  }

  private array(path: string, depth: number): unknown[] {
    this.pos++;
    const out: unknown[] = [];
    this.ws();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value(`${path}[${out.length}]`, depth + 1));
      this.ws();
      const c = this.text[this.pos++];
      if (c === ']') return out;
      if (c !== ',') this.fail(path, 'invalid_json', `expected "," or "]" at offset ${this.pos - 1}`);
    }
  }

  private object(path: string, depth: number): Record<string, unknown> {
    this.pos++;
    this.ws();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return {};
    }
    const entries: [string, unknown][] = [];
    const seen = new Set<string>();
    for (;;) {
      this.ws();
      if (this.text[this.pos] !== '"')
        this.fail(path, 'invalid_json', `expected a key at offset ${this.pos}`);
      const key = this.string(path);
      const child = IDENT.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
      if (seen.has(key)) this.fail(child, 'duplicate_key', `duplicate key "${key}"`);
      seen.add(key);
      this.ws();
      if (this.text[this.pos++] !== ':')
        this.fail(child, 'invalid_json', `expected ":" at offset ${this.pos - 1}`);
      entries.push([key, this.value(child, depth + 1)]);
      this.ws();
      const c = this.text[this.pos++];
      if (c === '}') break;
      if (c !== ',') this.fail(path, 'invalid_json', `expected "," or "}" at offset ${this.pos - 1}`);
    }
    // defineProperty so that a "__proto__" key stays data, as JSON.parse keeps it.
    const obj: Record<string, unknown> = {};
    for (const [k, v] of entries)
      Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
    return obj;
  }
}
