'use strict';
// The node-redlock plug-in's command: reads the environment the agent gives, then
// answers requests on stdin until it closes.

const Redis = require('ioredis');
const protocol = require('./protocol');
const { NodeRedlockPlugin, checkKey, commandTimeoutMs } = require('./plugin');

const node = process.env.SPLITBRAIN_NODE || '?';

function log(message) {
  process.stderr.write(`${new Date().toISOString()} node-redlock[${node}]: ${message}\n`);
}

// An ioredis client for one master. Every command is bounded (commandTimeout) and
// none is queued or sent again behind the plug-in's back: with the offline queue off,
// a command for a connection that is not ready fails at once, unsent; a command cut by
// a dropped connection fails when it drops (maxRetriesPerRequest 0) and is not resent
// on the next connection (each would otherwise run a lock script at a time nobody
// knows).
function masterClient({ host, port }, timeoutMs) {
  const client = new Redis({
    host,
    port,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (times) => Math.min(times * 50, 500),
  });
  let last = '';
  client.on('error', (err) => {
    if (err.message !== last) log(`redis ${host}:${port}: ${err.message}`);
    last = err.message;
  });
  client.on('ready', () => { last = ''; });
  const firstAttempt = new Promise((resolve) => {
    client.once('ready', resolve);
    client.once('error', resolve);
  });
  return { name: `${host}:${port}`, client, firstAttempt };
}

function main() {
  let servers;
  let budget;
  try {
    servers = protocol.parseServers('SPLITBRAIN_REDLOCK', process.env.SPLITBRAIN_REDLOCK);
    budget = protocol.budgetFor(protocol.opTimeoutMs());
  } catch (e) {
    log(`${e.message} (run with --plugin-servers redlock)`);
    process.exit(2);
  }
  if (protocol.fencingWanted()) log("SPLITBRAIN_FENCING=on, but redlock has no fencing token: grants carry none");
  const timeoutMs = commandTimeoutMs(budget);
  const masters = servers.map((s) => masterClient(s, timeoutMs));
  log(`redis masters ${masters.map((m) => m.name).join(',')}, op timeout ${budget.opTimeoutMs} ms, command timeouts ${timeoutMs} ms`);
  const plugin = new NodeRedlockPlugin({ masters, budget, log });
  const write = (line) => new Promise((resolve) => process.stdout.write(line, resolve));
  protocol.serve(process.stdin, write, checkKey, (req, start) => plugin.handle(req, start), log).then(
    // End of input: exit without releasing, as a crashed client would; the keys expire.
    () => process.exit(0),
    (e) => { log(`stopped: ${e.stack || e}`); process.exit(1); },
  );
}

main();
