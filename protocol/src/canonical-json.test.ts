import { describe, expect, it } from 'vitest';
import { canonicalJson, parseJsonText } from './canonical-json.js';

describe('canonicalJson (RFC 8785)', () => {
  it('matches the RFC 8785 §3.2.4 example byte for byte', () => {
    const input = JSON.parse(
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
        '"string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals": [null, true, false]}',
    );
    expect(canonicalJson(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('sorts keys by UTF-16 code units (RFC 8785 §3.2.3)', () => {
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    // JS objects list integer-like keys first, so compare the text, not a parsed object.
    expect(canonicalJson(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it.each([
    [0, '0'],
    [-0, '0'],
    [5e-324, '5e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [1e21, '1e+21'],
    [1e20, '100000000000000000000'],
    [9007199254740992, '9007199254740992'],
    [0.000001, '0.000001'],
    [1e-7, '1e-7'],
    [-1.5, '-1.5'],
  ])('writes the number %d as %s', (n, text) => {
    expect(canonicalJson(n)).toBe(text);
  });

  it('gives the same bytes whatever the key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } })).toBe(
      canonicalJson({ a: { c: null, d: [1, { x: 1, y: 2 }] }, b: 1 }),
    );
  });

  it('omits undefined members as JSON.stringify does', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
  });

  it.each([
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['a bigint', 1n],
    ['a function', () => 1],
    ['a lone surrogate', '\ud800'],
    ['a Date', new Date(0)],
    ['undefined in an array', [1, undefined]],
  ])('refuses %s', (_n, v) => {
    expect(() => canonicalJson(v)).toThrow(TypeError);
  });
});

describe('parseJsonText', () => {
  it('parses what JSON.parse parses', () => {
    const text = '{"a":[1,2.5e3,-0.1,true,false,null,"x\\u0041"],"b":{},"c":[]}';
    const r = parseJsonText(text);
    expect(r.ok && r.value).toEqual(JSON.parse(text));
  });

  it('keeps a __proto__ key as data', () => {
    const r = parseJsonText('{"__proto__":{"x":1}}');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(Object.keys(r.value as object)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it.each([
    ['a duplicate key', '{"a":1,"b":{"c":1,"c":2}}', '$.b.c', /duplicate key "c"/],
    ['trailing text', '{"a":1} x', '$', /unexpected text/],
    ['a trailing comma', '{"a":1,}', '$', /expected a key/],
    ['single quotes', "{'a':1}", '$', /expected a key/],
    ['a raw newline in a string', '{"a":"x\ny"}', '$.a', /bad string/],
    ['empty input', '', '$', /end of input/],
    ['a leading zero', '[01]', '$', /expected "," or "\]"/],
  ])('refuses %s', (_n, text, path, message) => {
    const r = parseJsonText(text, 'doc');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.issues[0]?.path).toBe(path);
    expect(r.error.issues[0]?.message).toMatch(message);
  });

  it('refuses nesting deeper than 256 without overflowing the stack', () => {
    const r = parseJsonText('['.repeat(100_000) + ']'.repeat(100_000));
    expect(r.ok).toBe(false);
  });
});
