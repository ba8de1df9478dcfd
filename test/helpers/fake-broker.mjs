// A stand-in for `node dist/src/cli.js serve ...` used by test/helpers.test.ts
// to test the startBroker helper without the real broker. Accepts the same
// flags, listens on --listen, writes a marker file into --data-dir and prints
// pino-style JSON lines. Behaviour switches (env):
//   FAKE_BROKER_MODE=silent  never prints the listening line
//   FAKE_BROKER_MODE=crash   exits 3 before listening
//   FAKE_BROKER_MODE=stubborn ignores SIGTERM
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const argv = process.argv.slice(2);
const log = (level, msg, extra = {}) =>
  process.stdout.write(JSON.stringify({ level, time: Date.now(), pid: process.pid, msg, ...extra }) + '\n');
if (argv[0] !== 'serve') {
  console.error('fake-broker: expected "serve"');
  process.exit(2);
}
const opt = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const [host, port] = (opt('--listen') ?? '').split(':');
const dataDir = opt('--data-dir');
const mode = process.env.FAKE_BROKER_MODE ?? '';
log(30, 'starting', { argv, brokerId: opt('--broker-id') ?? null });
console.error('fake-broker: a line on stderr');
if (mode === 'crash') process.exit(3);
fs.appendFileSync(path.join(dataDir, 'starts.txt'), `${process.pid}\n`);
const server = net.createServer((s) => s.end());
server.listen(Number(port), host, () => {
  if (mode !== 'silent') log(30, 'listening', { address: `${host}:${port}` });
});
process.on('SIGTERM', () => {
  if (mode === 'stubborn') {
    log(40, 'ignoring SIGTERM');
    return;
  }
  log(30, 'stopping');
  server.close(() => process.exit(0));
});
