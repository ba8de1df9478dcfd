// lib/netns.ts: namespaces on one bridge, a cut drops traffic both ways, a
// heal restores it, destroy leaves nothing behind. Skipped where namespaces
// cannot be made (not root, no ip/nft).
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { expect, test } from 'vitest';
import { ManagedProcess } from '../helpers/process.js';
import { NetnsLab, netnsUnavailable } from './lib/netns.js';

const why = netnsUnavailable();

function connects(host: string, port: number, timeoutMs = 700): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

test.skipIf(why !== null)(`a cut drops traffic both ways and a heal restores it${why ? ` (skipped: ${why})` : ''}`, async () => {
  const lab = NetnsLab.create({ a: 11, b: 12 });
  try {
    const serve = (member: string, port: number) => {
      const { cmd, args } = lab.exec(member, process.execPath, ['-e', `require('net').createServer((s)=>{s.on('error',()=>{});s.end('hi')}).listen(${port}, '${lab.ip(member)}', () => console.log('up'))`]);
      const p = new ManagedProcess(cmd, args, { name: `server-${member}` });
      return p;
    };
    const sa = serve('a', 7000);
    const sb = serve('b', 7000);
    await sa.waitForLine((l) => l === 'up', 10_000, 'up');
    await sb.waitForLine((l) => l === 'up', 10_000, 'up');
    expect(await connects(lab.ip('a'), 7000)).toBe(true);
    const fromB = () => {
      const { cmd, args } = lab.exec('b', process.execPath, ['-e', `const s=require('net').connect(7000,'${lab.ip('a')}');s.setTimeout(700,()=>{console.log('timeout');process.exit(0)});s.on('connect',()=>{console.log('connected');process.exit(0)});s.on('error',(e)=>{console.log('error '+e.code);process.exit(0)})`]);
      return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
    };
    expect(fromB(), 'b to a before any cut').toBe('connected');
    lab.cut('a', ['root']);
    expect(await connects(lab.ip('a'), 7000)).toBe(false);
    expect(fromB(), 'b to a while a is cut from the root').toBe('connected');
    lab.cut('a', ['b']);
    expect(fromB()).toBe('timeout');
    expect(await connects(lab.ip('a'), 7000)).toBe(true);
    lab.heal('a');
    expect(fromB()).toBe('connected');
    await sa.kill('SIGKILL');
    await sb.kill('SIGKILL');
  } finally {
    lab.destroy();
  }
  const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  expect(left).not.toContain(`shf${process.pid}-`);
  expect(execFileSync('ip', ['link'], { encoding: 'utf8' })).not.toContain(`shf${process.pid}r`);
}, 60_000);
