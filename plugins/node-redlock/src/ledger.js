'use strict';
// What each Redis master did in one operation.
//
// redlock asks every master and keeps only a count of the votes: a master that timed
// out and one that answered "no" look the same to it, and it rejects with one
// LockError either way (the errors go to its 'clientError' event). Whether a refusal
// is definite depends on exactly that difference: a timed-out script may have run. So
// each operation runs on a Redlock whose servers record, per master, how its script
// ended; a new set is made for every operation.

const { ReplyError } = require('ioredis');

const Outcome = Object.freeze({
  APPLIED: 'applied', // the script answered 1: it locked, extended or unlocked
  REFUSED: 'refused', // it answered 0: the key is another's, or gone
  REJECTED: 'rejected', // an error reply (NOSCRIPT, READONLY, OOM...): it did not run
  UNSENT: 'unsent', // not asked, or not connected: nothing sent
  UNKNOWN: 'unknown', // timed out or cut after sending: it may have run
});

// ioredis rejects at once, without writing, a command for a connection that is not
// ready when the offline queue is off.
const NOT_WRITTEN = "Stream isn't writeable";

function outcomeOf(err, result) {
  if (!err) return Number(result) >= 1 ? Outcome.APPLIED : Outcome.REFUSED;
  if (err instanceof ReplyError) return Outcome.REJECTED;
  if (typeof err.message === 'string' && err.message.startsWith(NOT_WRITTEN)) return Outcome.UNSENT;
  return Outcome.UNKNOWN;
}

class Ledger {
  // `deciding` is the script whose outcome decides the operation (redlock's
  // 'lockScript', 'extendScript' or 'unlockScript').
  constructor(deciding) {
    this.deciding = deciding;
    this.outcomes = new Map();
    this.errors = new Map();
  }

  asked(master, script) {
    if (script === this.deciding && !this.outcomes.has(master)) this.outcomes.set(master, Outcome.UNKNOWN);
  }

  record(master, script, err, result) {
    if (script !== this.deciding) return;
    this.outcomes.set(master, outcomeOf(err, result));
    if (err) this.errors.set(master, err.message);
    else this.errors.delete(master);
  }

  tally(masters) {
    const count = (o) => masters.filter((m) => (this.outcomes.get(m) || Outcome.UNSENT) === o).length;
    return new Tally({
      applied: count(Outcome.APPLIED),
      refused: count(Outcome.REFUSED),
      rejected: count(Outcome.REJECTED),
      unsent: count(Outcome.UNSENT),
      unknown: count(Outcome.UNKNOWN),
      errors: new Map(this.errors),
    });
  }
}

class Tally {
  constructor(counts) {
    Object.assign(this, counts);
  }

  get masters() {
    return this.applied + this.refused + this.rejected + this.unsent + this.unknown;
  }

  get quorum() {
    return Math.floor(this.masters / 2) + 1;
  }

  // Whether a quorum may have run it: those that did and those whose answer never came.
  mayHaveTakenEffect() {
    return this.applied + this.unknown >= this.quorum;
  }

  // Whether a quorum answered no: the lock is another's (or, for our value, gone).
  refusedByQuorum() {
    return this.refused >= this.quorum;
  }

  summary() {
    const parts = [`${this.applied} applied`, `${this.refused} refused`];
    if (this.rejected) parts.push(`${this.rejected} error replies`);
    if (this.unsent) parts.push(`${this.unsent} unreachable`);
    if (this.unknown) parts.push(`${this.unknown} unanswered`);
    let text = `${parts.join(', ')} of ${this.masters} masters`;
    if (this.errors.size) {
      const errs = [...this.errors].sort(([a], [b]) => a.localeCompare(b)).map(([m, e]) => `${m}: ${e}`);
      text += ` (${errs.join('; ')})`;
    }
    return text;
  }
}

// The face redlock sees of one master: evalsha and eval, as it calls them, recorded
// by script name into the operation's ledger.
class RecordingServer {
  constructor(name, client, ledger, scriptNames) {
    this.name = name;
    this.client = client;
    this.ledger = ledger;
    this.scriptNames = scriptNames; // sha1 and source text -> redlock's script name
  }

  evalsha(hash, args, callback) {
    return this.call('evalsha', this.scriptNames.get(hash), [hash, args], callback);
  }

  eval(args, callback) {
    return this.call('eval', this.scriptNames.get(args[0]), [args], callback);
  }

  call(command, script, args, callback) {
    this.ledger.asked(this.name, script);
    return this.client[command](...args, (err, result) => {
      this.ledger.record(this.name, script, err, result);
      callback(err, result);
    });
  }
}

// Maps each of a Redlock's scripts, by sha1 and by text, to its name.
function scriptNamesOf(redlock) {
  const names = new Map();
  for (const [name, { value, hash }] of Object.entries(redlock.scripts)) {
    names.set(hash, name);
    names.set(value, name);
  }
  return names;
}

module.exports = { Outcome, outcomeOf, Ledger, Tally, RecordingServer, scriptNamesOf };
