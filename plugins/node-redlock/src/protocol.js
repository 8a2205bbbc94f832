'use strict';
// splitbrain's plug-in protocol (docs/plugins.md): one JSON request per line on stdin,
// one JSON reply per line on stdout carrying the request's id. This module knows
// nothing of any lock: it parses requests, encodes replies, splits input into lines,
// and reads the environment every plug-in gets.

const HELD = 'held';
const NOT_HOLDER = 'not-holder';
const UNSUPPORTED = 'unsupported';
const LOCK_OPS = ['acquire', 'renew', 'release'];

// The agent kills a plug-in that writes a line over 1 MiB; requests are far shorter.
const MAX_LINE_BYTES = 1 << 20;
// Keeps a ttl, and every timer derived from it, in range.
const MAX_TTL_MS = 2 ** 31 - 1;
const DEFAULT_OP_TIMEOUT_MS = 1000;

// A request line that cannot be carried out; `id` is set when the line was a JSON
// object with an id, so that the refusal can be addressed to it.
class BadRequest extends Error {
  constructor(message, id = null) {
    super(message);
    this.id = id;
  }
}

function truncate(text, n) {
  return text.length <= n ? text : `${text.slice(0, n)}...`;
}

// Decodes and checks one request line; checkKey says what is wrong with a key for the
// lock system, or ''. An unknown op parses (the answer is "unsupported").
function parseRequest(line, checkKey) {
  let fields;
  try {
    fields = JSON.parse(line);
  } catch {
    throw new BadRequest(`bad request: not JSON: ${JSON.stringify(truncate(line, 200))}`);
  }
  if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) {
    throw new BadRequest(`bad request: not a JSON object: ${JSON.stringify(truncate(line, 200))}`);
  }
  if (fields.id === undefined || fields.id === null) throw new BadRequest('bad request: no id');
  const id = fields.id;
  const bad = (message) => new BadRequest(`bad request: ${message}`, id);
  const { op } = fields;
  if (typeof op !== 'string') throw bad('op is missing or not a string');
  if (!LOCK_OPS.includes(op)) return { id, op };
  const { key, holder } = fields;
  if (typeof key !== 'string') throw bad('key is missing or not a string');
  const problem = checkKey(key);
  if (problem) throw bad(`key ${JSON.stringify(truncate(key, 40))} ${problem}`);
  if (typeof holder !== 'string' || holder === '') throw bad('holder is missing, empty or not a string');
  let ttlMs = null;
  if (op === 'acquire' || (fields.ttl_ms !== undefined && fields.ttl_ms !== null)) {
    ttlMs = parseTtl(fields, bad);
  }
  return { id, op, key, holder, ttlMs };
}

function parseTtl(fields, bad) {
  if (!('ttl_ms' in fields)) throw bad(`${fields.op} without ttl_ms`);
  const ttl = fields.ttl_ms;
  if (typeof ttl !== 'number') throw bad(`ttl_ms is not a number: ${truncate(JSON.stringify(ttl), 40)}`);
  if (!Number.isInteger(ttl)) throw bad(`ttl_ms must be a whole number of milliseconds, got ${ttl}`);
  if (ttl < 1 || ttl > MAX_TTL_MS) throw bad(`ttl_ms must be from 1 to ${MAX_TTL_MS}, got ${ttl}`);
  return ttl;
}

// A success; the token is left out when there is none.
function ok(id, token = null) {
  return token === null || token === undefined ? { id, ok: true } : { id, ok: true, token };
}

// A failure; definite when the operation certainly did not take effect.
function refusal(id, definite, error, detail = null) {
  const reply = { id, ok: false, definite, error };
  if (detail) reply.detail = detail;
  return reply;
}

// One line, newline included; JSON.stringify escapes newlines inside strings.
function encode(message) {
  return `${JSON.stringify(message)}\n`;
}

// Splits a byte stream into lines without their line ends and surrounding blanks.
// onLine(text) gets each non-empty line, onTooLong() each line over maxBytes (which is
// dropped whole).
class LineSplitter {
  constructor(onLine, onTooLong, maxBytes = MAX_LINE_BYTES) {
    this.onLine = onLine;
    this.onTooLong = onTooLong;
    this.maxBytes = maxBytes;
    this.parts = [];
    this.size = 0;
    this.skipping = false;
  }

  push(chunk) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) {
        this.keep(chunk.subarray(start));
        return;
      }
      this.keep(chunk.subarray(start, nl));
      this.finishLine();
      start = nl + 1;
    }
  }

  // The end of input: a last line without a newline still counts.
  end() {
    if (this.size > 0 || this.skipping) this.finishLine();
  }

  keep(piece) {
    if (this.skipping) return;
    if (this.size + piece.length > this.maxBytes + 1) {
      this.skipping = true;
      this.parts = [];
      this.size = 0;
      return;
    }
    this.parts.push(piece);
    this.size += piece.length;
  }

  finishLine() {
    if (this.skipping) {
      this.skipping = false;
      this.onTooLong();
      return;
    }
    const text = Buffer.concat(this.parts).toString('utf8').trim();
    this.parts = [];
    this.size = 0;
    if (text) this.onLine(text);
  }
}

// The reply to one line, or null for a line that cannot be answered.
async function answer(line, readAt, checkKey, handle, log) {
  let request;
  try {
    request = parseRequest(line, checkKey);
  } catch (e) {
    if (!(e instanceof BadRequest)) throw e;
    log(e.message);
    return e.id === null ? null : refusal(e.id, true, e.message);
  }
  if (!LOCK_OPS.includes(request.op)) {
    return refusal(request.id, true, UNSUPPORTED, `no op ${JSON.stringify(truncate(request.op, 40))}`);
  }
  return handle(request, readAt);
}

// Answers requests from `input` one at a time until it ends, writing each reply with
// write(line); resolves once every reply is written. handle(request, readAt) gets the
// time the line was read: the agent's clock for it started about then.
function serve(input, write, checkKey, handle, log) {
  return new Promise((resolve, reject) => {
    let chain = Promise.resolve();
    const enqueue = (line) => {
      const readAt = Date.now();
      chain = chain
        .then(() => answer(line, readAt, checkKey, handle, log))
        .then((reply) => reply && write(encode(reply)));
      chain.catch(reject);
    };
    const splitter = new LineSplitter(enqueue, () => log(`bad request: a line longer than ${MAX_LINE_BYTES} bytes, skipped`));
    input.on('data', (chunk) => splitter.push(chunk));
    input.on('end', () => {
      splitter.end();
      chain.then(resolve, reject);
    });
    input.on('error', reject);
  });
}

// --- the environment ---------------------------------------------------------------

function fencingWanted(env = process.env) {
  return env.SPLITBRAIN_FENCING === 'on';
}

function opTimeoutMs(env = process.env) {
  const raw = (env.SPLITBRAIN_OP_TIMEOUT_MS || '').trim();
  if (!raw) return DEFAULT_OP_TIMEOUT_MS;
  const ms = /^\d+$/.test(raw) ? Number(raw) : 0;
  if (ms < 1 || ms > MAX_TTL_MS) {
    throw new Error(`SPLITBRAIN_OP_TIMEOUT_MS=${JSON.stringify(raw)} is not a positive number of milliseconds`);
  }
  return ms;
}

// A list of host:port, comma-separated, as the runner sets SPLITBRAIN_<SYSTEM>.
function parseServers(name, value) {
  if (!value || !value.trim()) throw new Error(`${name} is not set: it must list host:port,host:port,...`);
  const servers = [];
  for (const raw of value.split(',')) {
    const item = raw.trim();
    if (!item) continue;
    const colon = item.lastIndexOf(':');
    const host = item.slice(0, colon);
    const port = Number(item.slice(colon + 1));
    if (colon <= 0 || !/^\d+$/.test(item.slice(colon + 1)) || port < 1 || port > 65535) {
      throw new Error(`${name}=${JSON.stringify(value)}: ${JSON.stringify(item)} is not host:port`);
    }
    servers.push({ host, port });
  }
  if (servers.length === 0) throw new Error(`${name}=${JSON.stringify(value)} names no server`);
  return servers;
}

// How a request's time is split: the answer must leave `marginMs` before the agent
// gives up.
function budgetFor(opTimeout) {
  const marginMs = Math.min(Math.max(opTimeout / 10, 10), 250, opTimeout / 2);
  return {
    opTimeoutMs: opTimeout,
    marginMs,
    answerBy: (start) => start + opTimeout - marginMs,
  };
}

module.exports = {
  HELD,
  NOT_HOLDER,
  UNSUPPORTED,
  MAX_LINE_BYTES,
  MAX_TTL_MS,
  DEFAULT_OP_TIMEOUT_MS,
  BadRequest,
  parseRequest,
  ok,
  refusal,
  encode,
  LineSplitter,
  answer,
  serve,
  fencingWanted,
  opTimeoutMs,
  parseServers,
  budgetFor,
};
