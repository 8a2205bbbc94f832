'use strict';
// The plug-in's acquire, renew and release on redlock 4.2.0's real Redlock over
// in-memory masters, with faults injected, and how each outcome is classified.

const test = require('node:test');
const assert = require('node:assert/strict');
const { ReplyError } = require('ioredis');
const { FakeMaster } = require('./fake-redis');
const { NodeRedlockPlugin, checkKey, commandTimeoutMs, settleBy } = require('../src/plugin');
const { Ledger, Outcome, outcomeOf } = require('../src/ledger');
const { budgetFor } = require('../src/protocol');

const KEY = 'splitbrain-lock';
const NAMES = ['r1:6379', 'r2:6379', 'r3:6379'];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function cluster() {
  return Object.fromEntries(NAMES.map((n) => [n, new FakeMaster()]));
}

class Agent {
  constructor(masters, opTimeoutMs = 1000) {
    this.plugin = new NodeRedlockPlugin({
      masters: NAMES.map((name) => ({ name, client: masters[name] })),
      budget: budgetFor(opTimeoutMs),
    });
    this.nextId = 0;
  }

  request(op, holder, ttlMs = 2000) {
    this.nextId += 1;
    return this.plugin.handle({ id: this.nextId, op, key: KEY, holder, ttlMs: op === 'release' ? null : ttlMs }, Date.now());
  }

  acquire(holder, ttlMs = 2000) {
    return this.request('acquire', holder, ttlMs);
  }
}

const values = (masters) => NAMES.map((n) => masters[n].get(KEY));

test('a grant has no token and holds every master', async () => {
  const m = cluster();
  assert.deepEqual(await new Agent(m).acquire('a1'), { id: 1, ok: true });
  const v = values(m);
  assert.ok(v.every((x) => x !== null) && new Set(v).size === 1);
});

test('a held lock is refused definitely', async () => {
  const m = cluster();
  await new Agent(m).acquire('a1');
  assert.deepEqual(await new Agent(m).acquire('b1'), { id: 1, ok: false, definite: true, error: 'held' });
});

test('release frees the lock for the next holder', async () => {
  const m = cluster();
  const a = new Agent(m);
  await a.acquire('a1');
  assert.deepEqual(await a.request('release', 'a1'), { id: 2, ok: true });
  assert.deepEqual(values(m), [null, null, null]);
  assert.equal((await new Agent(m).acquire('b1')).ok, true);
});

test('renew extends the lease, as often as asked', async () => {
  const m = cluster();
  const a = new Agent(m);
  await a.acquire('a1', 150);
  for (let i = 0; i < 5; i += 1) {
    await sleep(60);
    assert.equal((await a.request('renew', 'a1', 150)).ok, true);
  }
  assert.ok(values(m).every((x) => x !== null), 'still held 300 ms after a 150 ms grant');
});

test('renew of a lease that ran out by redlocks clock is not-holder, nothing sent', async () => {
  const m = cluster();
  const a = new Agent(m);
  await a.acquire('a1', 30);
  await sleep(50);
  const reply = await a.request('renew', 'a1', 30);
  assert.deepEqual([reply.definite, reply.error], [true, 'not-holder']);
  assert.match(reply.detail, /already expired.*nothing sent/);
});

test('renew whose value is gone from the masters is not-holder', async () => {
  const m = cluster();
  const a = new Agent(m);
  await a.acquire('a1');
  NAMES.forEach((n) => m[n].keys.clear());
  const reply = await a.request('renew', 'a1');
  assert.deepEqual([reply.definite, reply.error], [true, 'not-holder']);
  assert.match(reply.detail, /0 applied, 3 refused/);
});

test('release and renew of an unknown holder are not-holder', async () => {
  const a = new Agent(cluster());
  for (const op of ['renew', 'release']) {
    const reply = await a.request(op, 'nobody');
    assert.deepEqual([reply.definite, reply.error, reply.detail], [true, 'not-holder', 'no grant for this holder']);
  }
});

test('a master down does not stop a majority grant', async () => {
  const m = cluster();
  m['r3:6379'].fault = 'down';
  assert.equal((await new Agent(m).acquire('a1')).ok, true);
});

test('held with a master down or silent is still definite', async () => {
  for (const fault of ['down', 'timeout-after']) {
    const m = cluster();
    await new Agent(m).acquire('a1');
    m['r1:6379'].fault = fault;
    const reply = await new Agent(m).acquire('b1');
    assert.deepEqual([reply.definite, reply.error], [true, 'held'], fault);
  }
});

test('a failed acquire that a majority may have taken is indeterminate', async () => {
  // r1 grants, r2 takes it but its answer is lost, r3 is another's: redlock counts
  // one vote and fails, yet r1 and r2 may hold our value.
  const m = cluster();
  m['r3:6379'].keys.set(KEY, { value: 'someone-else', expiresAt: Date.now() + 5000 });
  m['r2:6379'].fault = 'timeout-after';
  const reply = await new Agent(m).acquire('a1');
  assert.deepEqual([reply.ok, reply.definite], [false, false]);
  assert.match(reply.error, /1 applied, 1 refused, 1 unanswered/);
});

test('two masters down is a definite refusal without a quorum', async () => {
  const m = cluster();
  m['r1:6379'].fault = 'down';
  m['r2:6379'].fault = 'down';
  const reply = await new Agent(m).acquire('a1');
  assert.deepEqual([reply.definite, reply.error], [true, 'no quorum']);
  assert.equal(m['r3:6379'].get(KEY), null, 'redlock unlocked the one it got');
});

test('a release whose answers were lost is indeterminate', async () => {
  const m = cluster();
  const a = new Agent(m);
  await a.acquire('a1');
  NAMES.forEach((n) => { m[n].fault = 'timeout-after'; });
  const reply = await a.request('release', 'a1');
  assert.deepEqual([reply.ok, reply.definite], [false, false]);
});

test('an extend that a majority refused unlocks the master that extended', async () => {
  // redlock's failed extend unlocks the masters that did extend.
  const m = cluster();
  const a = new Agent(m);
  await a.acquire('a1');
  m['r2:6379'].keys.clear();
  m['r3:6379'].keys.clear();
  const reply = await a.request('renew', 'a1');
  assert.deepEqual([reply.definite, reply.error], [true, 'not-holder']);
  assert.deepEqual(values(m), [null, null, null]);
});

test('an operation redlock does not finish in time is indeterminate', async () => {
  const m = cluster();
  const a = new Agent(m, 100);
  m['r1:6379'].evalsha = () => {}; // never calls back
  const reply = await a.acquire('a1');
  assert.deepEqual([reply.ok, reply.definite], [false, false]);
  assert.match(reply.error, /^timeout/);
});

test('grants the agent abandoned are forgotten', async () => {
  const a = new Agent(cluster());
  await a.acquire('a1', 20);
  await sleep(30);
  assert.equal((await a.acquire('a2')).ok, true);
  assert.deepEqual([...a.plugin.grants.keys()], ['a2']);
});

test('the first request waits for the first connections, within a quarter of its time', async () => {
  const m = cluster();
  let connected;
  const plugin = new NodeRedlockPlugin({
    masters: NAMES.map((name) => ({ name, client: m[name], firstAttempt: new Promise((r) => { connected = r; }) })),
    budget: budgetFor(400),
  });
  const t0 = Date.now();
  const reply = await plugin.handle({ id: 1, op: 'acquire', key: KEY, holder: 'a', ttlMs: 1000 }, t0);
  assert.equal(reply.ok, true);
  const waited = Date.now() - t0;
  assert.ok(waited >= 80 && waited < 200, `waited ${waited} ms`);
  connected();
});

test('outcomes say whether a master may have run the script', () => {
  assert.equal(outcomeOf(null, 1), Outcome.APPLIED);
  assert.equal(outcomeOf(null, '1'), Outcome.APPLIED);
  assert.equal(outcomeOf(null, 0), Outcome.REFUSED);
  assert.equal(outcomeOf(new ReplyError('READONLY')), Outcome.REJECTED);
  assert.equal(outcomeOf(new Error("Stream isn't writeable and enableOfflineQueue options is false")), Outcome.UNSENT);
  assert.equal(outcomeOf(new Error('Command timed out')), Outcome.UNKNOWN);
  assert.equal(outcomeOf(new Error('Connection is closed.')), Outcome.UNKNOWN);
});

test('the ledger keeps the deciding script and counts masters never asked as unsent', () => {
  const ledger = new Ledger('lockScript');
  ledger.asked('r1', 'lockScript');
  ledger.record('r1', 'lockScript', null, 1);
  ledger.asked('r2', 'lockScript');
  ledger.record('r2', 'unlockScript', new Error('late'), null);
  const t = ledger.tally(['r1', 'r2', 'r3']);
  assert.deepEqual([t.applied, t.unknown, t.unsent], [1, 1, 1]);
  assert.equal(t.mayHaveTakenEffect(), true);
  assert.equal(t.errors.size, 0);
});

test('command timeouts leave room for four of them', () => {
  const b = budgetFor(1000);
  assert.equal(commandTimeoutMs(b), 180);
  assert.ok(4 * commandTimeoutMs(b) < b.opTimeoutMs - b.marginMs);
});

test('settleBy gives up at the deadline', async () => {
  assert.equal(await settleBy(new Promise(() => {}), Date.now() + 20), null);
  assert.deepEqual(await settleBy(Promise.resolve(3), Date.now() + 20), { value: 3 });
});

test('keys are any nonempty text', () => {
  assert.equal(checkKey('splitbrain-lock'), '');
  assert.ok(checkKey('') && checkKey('x'.repeat(600)));
});
