// The chat stream's framing (SSE) and the numbers shown to people.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as fmt from '../src/format.js';
import { SseParser } from '../src/sse.js';

const bytes = (s) => new TextEncoder().encode(s);

test('SSE: events split across reads, CRLF, comments, multi-line data', () => {
  const p = new SseParser();
  const events = [
    ...p.push(bytes(': keep-alive\r\ndata: {"a"')),
    ...p.push(bytes(':1}\r')),
    ...p.push(bytes('\n\r\nevent: error\ndata: one\ndata: two\n\n')),
    ...p.push(bytes('data: [DONE]')),
    ...p.push(null),
  ];
  assert.deepEqual(events, [
    { event: 'message', data: '{"a":1}' },
    { event: 'error', data: 'one\ntwo' },
    { event: 'message', data: '[DONE]' },
  ]);
});

test('SSE: a UTF-8 character split between reads is decoded whole', () => {
  const p = new SseParser();
  const all = bytes('data: é\n\n');
  const events = [...p.push(all.slice(0, 7)), ...p.push(all.slice(7))];
  assert.deepEqual(events, [{ event: 'message', data: 'é' }]);
});

test('numbers for people: no exponents, units, separators', () => {
  assert.equal(fmt.seconds(1.0612), '1.06 s');
  assert.equal(fmt.seconds(0.3015), '302 ms');
  assert.equal(fmt.seconds(125), '2 min 5 s');
  assert.equal(fmt.millis(838.878), '839 ms');
  assert.equal(fmt.percent(1), '100 %');
  assert.equal(fmt.percent(0.16583), '17 %');
  assert.equal(fmt.percent(0.0333), '3.3 %');
  assert.equal(fmt.usd(0.0123), '$0.0123');
  assert.equal(fmt.usd(1.001e-3), '$0.001001');
  assert.equal(fmt.usd(1234.5), '$1,234.50');
  assert.equal(fmt.usd(0), '$0');
  assert.equal(fmt.int(1234567), '1,234,567');
  assert.equal(fmt.decimal(0.000301), '0.000301');
  assert.equal(fmt.decimal(Number('1E0')), '1');
  assert.equal(fmt.seconds(null), '–');
  assert.equal(fmt.usd(Number.NaN), '–');
});
