'use strict';
// In-memory Redis masters with the part of ioredis's interface redlock 4.2.0 uses
// (evalsha and eval with a callback), running its three Lua scripts by what they do,
// with faults to inject. Errors are the ones ioredis gives.

const crypto = require('crypto');
const { ReplyError } = require('ioredis');

class FakeMaster {
  constructor() {
    this.keys = new Map(); // key -> {value, expiresAt}
    this.scripts = new Map(); // sha1 -> text, loaded by EVAL as Redis does
    // "down" (not connected), "timeout" (no answer, nothing done),
    // "timeout-after" (done, the answer lost)
    this.fault = null;
  }

  get(key) {
    const entry = this.keys.get(key);
    if (!entry || entry.expiresAt <= Date.now()) {
      this.keys.delete(key);
      return null;
    }
    return entry.value;
  }

  evalsha(hash, args, callback) {
    this.answer(() => {
      const text = this.scripts.get(hash);
      if (!text) throw new ReplyError('NOSCRIPT No matching script. Please use EVAL.');
      return this.run(text, args);
    }, callback);
  }

  eval(args, callback) {
    const [text, ...rest] = args;
    this.answer(() => {
      this.scripts.set(crypto.createHash('sha1').update(text).digest('hex'), text);
      return this.run(text, rest);
    }, callback);
  }

  answer(work, callback) {
    setImmediate(() => {
      if (this.fault === 'down') return callback(new Error("Stream isn't writeable and enableOfflineQueue options is false"));
      if (this.fault === 'timeout') return callback(new Error('Command timed out'));
      let result;
      try {
        result = work();
      } catch (e) {
        return callback(e);
      }
      if (this.fault === 'timeout-after') return callback(new Error('Command timed out'));
      return callback(null, result);
    });
  }

  // args: [numkeys, ...keys, value, ttl?] as redlock passes them.
  run(text, args) {
    const n = Number(args[0]);
    const keys = args.slice(1, 1 + n);
    const [value, ttl] = args.slice(1 + n);
    const ours = keys.every((k) => this.get(k) === value);
    const set = () => keys.forEach((k) => this.keys.set(k, { value, expiresAt: Date.now() + Number(ttl) }));
    if (text.includes('Return 0 if an entry already exists')) {
      if (keys.some((k) => this.get(k) !== null)) return 0;
      set();
      return keys.length;
    }
    if (text.includes('Only remove entries for *this* lock value')) {
      let count = 0;
      for (const k of keys) if (this.get(k) === value) { this.keys.delete(k); count += 1; }
      return count;
    }
    if (text.includes('exists with a *different* lock value')) {
      if (!ours) return 0;
      set();
      return keys.length;
    }
    throw new Error(`unknown script ${text}`);
  }
}

module.exports = { FakeMaster };
