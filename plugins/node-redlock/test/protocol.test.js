'use strict';
// The protocol module: request parsing, reply lines, line splitting, the serve loop
// and the environment.

const test = require('node:test');
const assert = require('node:assert/strict');
const { PassThrough } = require('stream');
const protocol = require('../src/protocol');

const { BadRequest, parseRequest } = protocol;
const noKeyRules = () => '';
const parse = (obj, checkKey = noKeyRules) => parseRequest(JSON.stringify(obj), checkKey);

test('an acquire parses with every field', () => {
  assert.deepEqual(parse({ id: 1, op: 'acquire', key: 'k', ttl_ms: 1000, holder: 'n2-1' }),
    { id: 1, op: 'acquire', key: 'k', holder: 'n2-1', ttlMs: 1000 });
});

test('release needs no ttl and ignores the token', () => {
  const req = parse({ id: 3, op: 'release', key: 'k', holder: 'h', token: 42 });
  assert.deepEqual([req.op, req.ttlMs], ['release', null]);
});

test('an unknown op parses so that it can be answered unsupported', () => {
  assert.deepEqual(parse({ id: 9, op: 'frobnicate' }), { id: 9, op: 'frobnicate' });
});

test('lines without an id cannot be answered', () => {
  for (const [line, message] of [['not json', 'not JSON'], ['[1]', 'not a JSON object'], ['null', 'not a JSON object'],
    ['{"op":"acquire"}', 'no id'], ['{"id":null}', 'no id']]) {
    assert.throws(() => parseRequest(line, noKeyRules), (e) => e instanceof BadRequest && e.id === null && e.message.includes(message), line);
  }
});

test('bad fields are refused with the requests id', () => {
  const cases = [
    [{ op: 7 }, 'op is missing'],
    [{ op: 'acquire', ttl_ms: 1000, holder: 'h' }, 'key is missing'],
    [{ op: 'acquire', key: 'k', ttl_ms: 1000 }, 'holder is missing'],
    [{ op: 'acquire', key: 'k', ttl_ms: 1000, holder: '' }, 'holder is missing, empty'],
    [{ op: 'acquire', key: 'k', holder: 'h' }, 'acquire without ttl_ms'],
    [{ op: 'acquire', key: 'k', holder: 'h', ttl_ms: '1000' }, 'not a number'],
    [{ op: 'acquire', key: 'k', holder: 'h', ttl_ms: true }, 'not a number'],
    [{ op: 'acquire', key: 'k', holder: 'h', ttl_ms: 1.5 }, 'whole number'],
    [{ op: 'acquire', key: 'k', holder: 'h', ttl_ms: 0 }, 'from 1 to'],
    [{ op: 'acquire', key: 'k', holder: 'h', ttl_ms: 2 ** 40 }, 'from 1 to'],
  ];
  for (const [fields, message] of cases) {
    assert.throws(() => parse({ id: 5, ...fields }), (e) => e.id === 5 && e.message.includes(message), message);
  }
});

test('the lock systems key rules apply', () => {
  assert.throws(() => parse({ id: 2, op: 'acquire', key: '', holder: 'h', ttl_ms: 5 }, (k) => (k ? '' : 'is empty')),
    /key "" is empty/);
});

test('replies are compact lines without absent fields', () => {
  assert.equal(protocol.encode(protocol.ok(1, 42)), '{"id":1,"ok":true,"token":42}\n');
  assert.equal(protocol.encode(protocol.ok(2)), '{"id":2,"ok":true}\n');
  assert.equal(protocol.encode(protocol.ok(2, 0)), '{"id":2,"ok":true,"token":0}\n');
  assert.equal(protocol.encode(protocol.refusal(4, true, 'held')), '{"id":4,"ok":false,"definite":true,"error":"held"}\n');
  assert.equal(protocol.encode(protocol.refusal(5, false, 'timeout', 'after 300 ms')),
    '{"id":5,"ok":false,"definite":false,"error":"timeout","detail":"after 300 ms"}\n');
  const line = protocol.encode(protocol.refusal(6, false, 'a\nb'));
  assert.equal(line.split('\n').length, 2);
});

test('the splitter yields trimmed lines across chunks and drops overlong ones whole', () => {
  const lines = [];
  let tooLong = 0;
  const s = new protocol.LineSplitter((l) => lines.push(l), () => { tooLong += 1; }, 10);
  s.push(Buffer.from('ab'));
  s.push(Buffer.from('c\r\n\n  d  \n'));
  s.push(Buffer.from('x'.repeat(8)));
  s.push(Buffer.from('y'.repeat(8)));
  s.push(Buffer.from('\nlast'));
  s.end();
  assert.deepEqual(lines, ['abc', 'd', 'last']);
  assert.equal(tooLong, 1);
});

test('serve answers each line in order and skips what it cannot address', async () => {
  const input = new PassThrough();
  const out = [];
  const logged = [];
  const done = protocol.serve(input, (line) => out.push(line), noKeyRules,
    async (req, readAt) => {
      assert.ok(Math.abs(Date.now() - readAt) < 1000);
      await new Promise((r) => setTimeout(r, req.id === 1 ? 20 : 0));
      return protocol.ok(req.id, 7);
    }, (m) => logged.push(m));
  input.end([
    '{"id":1,"op":"acquire","key":"k","ttl_ms":10,"holder":"h"}',
    'garbage',
    '{"id":2,"op":"acquire","key":"k","holder":"h"}',
    '{"id":3,"op":"lock"}',
    '{"id":4,"op":"release","key":"k","holder":"h"}',
  ].join('\n'));
  await done;
  const replies = out.map((l) => JSON.parse(l));
  assert.deepEqual(replies.map((r) => r.id), [1, 2, 3, 4]);
  assert.equal(replies[1].definite, true);
  assert.deepEqual(replies[2], { id: 3, ok: false, definite: true, error: 'unsupported', detail: 'no op "lock"' });
  assert.ok(logged.some((m) => m.includes('not JSON')));
});

test('the op timeout defaults and must be positive', () => {
  assert.equal(protocol.opTimeoutMs({}), protocol.DEFAULT_OP_TIMEOUT_MS);
  assert.equal(protocol.opTimeoutMs({ SPLITBRAIN_OP_TIMEOUT_MS: '1666' }), 1666);
  for (const bad of ['0', '-3', '1.5s']) assert.throws(() => protocol.opTimeoutMs({ SPLITBRAIN_OP_TIMEOUT_MS: bad }));
});

test('server lists are host port pairs', () => {
  assert.deepEqual(protocol.parseServers('X', '10.0.0.1:6379, 10.0.0.2:6379,'),
    [{ host: '10.0.0.1', port: 6379 }, { host: '10.0.0.2', port: 6379 }]);
  for (const bad of [undefined, '', ' , ', 'host', 'host:0', 'host:http', ':6379']) {
    assert.throws(() => protocol.parseServers('X', bad), undefined, String(bad));
  }
});

test('the budget answers before the agent gives up', () => {
  const b = protocol.budgetFor(1000);
  assert.equal(b.answerBy(10_000), 10_900);
  assert.equal(protocol.budgetFor(60_000).marginMs, 250);
  assert.equal(protocol.budgetFor(15).marginMs, 7.5);
});
