'use strict';
// redlock 4.2.0 behind the protocol: one redlock Lock per grant over the run's
// independent Redis primaries (see README.md).

const Redlock = require('redlock');
const { HELD, NOT_HOLDER, ok, refusal } = require('./protocol');
const { Ledger, RecordingServer, scriptNamesOf } = require('./ledger');

// One try: redlock retries a failed lock 10 times by default.
const REDLOCK_OPTIONS = Object.freeze({ retryCount: 0 });

// An acquire is at most: evalsha (NOSCRIPT) and eval of the lock script on every
// master at once, then, when it failed, the same for the unlock script: four command
// timeouts end to end. A fifth of the answer's time is one command timeout, which
// leaves one for the slack.
const COMMAND_TIMEOUTS_PER_REQUEST = 5;

const MAX_KEY_CHARS = 512;

function checkKey(key) {
  if (key === '') return 'is empty';
  if (key.length > MAX_KEY_CHARS) return `is longer than ${MAX_KEY_CHARS} characters`;
  return '';
}

// Each Redis command is bounded by this (ioredis's commandTimeout and connectTimeout).
function commandTimeoutMs(budget) {
  return Math.max(5, Math.floor((budget.opTimeoutMs - budget.marginMs) / COMMAND_TIMEOUTS_PER_REQUEST));
}

// Resolves with {value} or {error} of `promise`, or with null at `deadline` (ms since
// the epoch) if it is still pending then.
function settleBy(promise, deadline) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), Math.max(0, deadline - Date.now()));
    promise.then(
      (value) => { clearTimeout(timer); resolve({ value }); },
      (error) => { clearTimeout(timer); resolve({ error }); },
    );
  });
}

class NodeRedlockPlugin {
  // masters: [{name, client, firstAttempt}]: an ioredis client, and a promise that
  // settles when its first connection attempt does (ready or failed); budget from
  // protocol.budgetFor.
  constructor({ masters, budget, log = () => {} }) {
    this.masters = masters;
    this.started = false;
    this.budget = budget;
    this.log = log;
    this.grants = new Map(); // holder -> {key, lock}
    this.scriptNames = scriptNamesOf(new Redlock([{}], REDLOCK_OPTIONS));
  }

  get masterNames() {
    return this.masters.map((m) => m.name);
  }

  handle(req, start) {
    if (req.op === 'acquire') return this.acquire(req, start);
    if (req.op === 'renew') return this.renew(req, start);
    return this.release(req, start);
  }

  // A Redlock for one operation, on servers that record into `ledger`.
  redlockFor(ledger) {
    const servers = this.masters.map((m) => new RecordingServer(m.name, m.client, ledger, this.scriptNames));
    return new Redlock(servers, REDLOCK_OPTIONS);
  }

  // The first request waits, a quarter of its time at most, for the masters' first
  // connection attempts: the agent sends it as soon as the plug-in starts, and ioredis
  // refuses commands (unsent) until a connection is ready.
  async firstConnections(start) {
    if (this.started) return;
    this.started = true;
    const attempts = this.masters.map((m) => m.firstAttempt || Promise.resolve());
    const budgetMs = (this.budget.answerBy(start) - start) / 4;
    await settleBy(Promise.all(attempts), start + budgetMs);
  }

  async run(deciding, call, start) {
    await this.firstConnections(start);
    const ledger = new Ledger(deciding);
    const outcome = await settleBy(call(this.redlockFor(ledger)), this.budget.answerBy(start));
    return { outcome, tally: ledger.tally(this.masterNames) };
  }

  async acquire(req, start) {
    // An acquire comes only from a client that holds nothing: other grants here are
    // the agent's retired clients'. Their keys expire by their TTL; forget them.
    for (const holder of this.grants.keys()) if (holder !== req.holder) this.grants.delete(holder);
    if (this.grants.has(req.holder)) return refusal(req.id, true, 'bad request: holder already holds this lock');
    const { outcome, tally } = await this.run('lockScript', (r) => r.lock(req.key, req.ttlMs), start);
    if (outcome && outcome.value) {
      this.grants.set(req.holder, { key: req.key, ttlMs: req.ttlMs, lock: outcome.value });
      return ok(req.id);
    }
    if (!outcome) return this.unknown(req, `timeout: redlock unanswered (${tally.summary()})`);
    if (!(outcome.error instanceof Redlock.LockError)) return this.unknown(req, `${outcome.error}`);
    if (tally.mayHaveTakenEffect()) {
      // A quorum may hold our value: answers lost, or the grant came too late to be
      // valid (redlock then unlocks it, which may not have reached them all).
      return this.unknown(req, `no quorum confirmed, but one may exist: ${tally.summary()}`);
    }
    if (tally.refusedByQuorum()) return refusal(req.id, true, HELD, tally.refused === tally.masters ? null : tally.summary());
    return refusal(req.id, true, 'no quorum', tally.summary());
  }

  async renew(req, start) {
    const grant = this.grants.get(req.holder);
    if (!grant || grant.key !== req.key) return refusal(req.id, true, NOT_HOLDER, 'no grant for this holder');
    const ttl = req.ttlMs || grant.ttlMs;
    const { outcome, tally } = await this.run('extendScript', (r) => r.extend(grant.lock, ttl), start);
    if (outcome && !outcome.error) return ok(req.id);
    return this.notDoneOrUnknown(req, outcome, tally, 'extend');
  }

  async release(req, start) {
    const grant = this.grants.get(req.holder);
    if (!grant || grant.key !== req.key) return refusal(req.id, true, NOT_HOLDER, 'no grant for this holder');
    this.grants.delete(req.holder);
    const { outcome, tally } = await this.run('unlockScript', (r) => r.unlock(grant.lock), start);
    if (outcome && !outcome.error) return ok(req.id);
    return this.notDoneOrUnknown(req, outcome, tally, 'unlock');
  }

  // A renew or release that failed: definite when no quorum may have run it, as
  // `not-holder` when a quorum said our value is not there, or when redlock refused to
  // extend a lease already over by its own clock (it then asks no master), else as the
  // errors that stopped it. The grant is over either way: a failed extend leaves the
  // lease to run out (redlock even unlocks the masters that did extend).
  notDoneOrUnknown(req, outcome, tally, what) {
    if (!outcome) return this.unknown(req, `timeout: redlock ${what} unanswered (${tally.summary()})`);
    if (!(outcome.error instanceof Redlock.LockError) || tally.mayHaveTakenEffect()) {
      return this.unknown(req, `${what}: ${outcome.error.message} (${tally.summary()})`);
    }
    this.grants.delete(req.holder);
    if (what === 'extend' && tally.unsent === tally.masters && /already expired/.test(outcome.error.message)) {
      return refusal(req.id, true, NOT_HOLDER, `${outcome.error.message} (nothing sent)`);
    }
    if (tally.refusedByQuorum()) return refusal(req.id, true, NOT_HOLDER, tally.summary());
    return refusal(req.id, true, 'no quorum', tally.summary());
  }

  unknown(req, error) {
    this.log(`${req.op} ${req.key} by ${req.holder}: ${error}`);
    return refusal(req.id, false, error);
  }
}

module.exports = { NodeRedlockPlugin, checkKey, commandTimeoutMs, settleBy, REDLOCK_OPTIONS };
