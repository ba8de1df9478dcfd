/**
 * Network namespaces for partition scenarios (scenario 04). Each member
 * (broker, etcd, s3) gets its own namespace with one address on a private
 * /24; all namespaces hang on one bridge in a hub namespace, and the root
 * namespace (where the test, the clients and the audit run) is on the same
 * bridge with the .1 address. No routing, no sysctl, nothing in the root
 * namespace but one veth end.
 *
 *   root (.1) ── veth ─┐
 *                      ├─ bridge (hub namespace)
 *   b1 (.11) ── veth ──┤
 *   etcd (.20) ─ veth ─┘ ...
 *
 * A cut is an nftables table in the member's namespace dropping everything
 * to and from the given peers' addresses, both ways: packets vanish,
 * connections hang (TCP retransmits), new ones time out. heal() deletes the
 * table. Processes run in a namespace with `ip netns exec`.
 *
 * Names carry the creating process's pid (shf<pid>-<member>); namespaces of
 * a pid that no longer runs are deleted at the next create(). Everything is
 * deleted at destroy(), at the test process's exit (registered cleanup), and
 * on failure half-way through create().
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { registerCleanup } from '../../helpers/process.js';

const PREFIX = 'shf';

function run(args: string[], input?: string): string {
  return execFileSync(args[0]!, args.slice(1), { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

function tryRun(args: string[]): boolean {
  try {
    run(args);
    return true;
  } catch {
    return false;
  }
}

/** Why namespaces cannot be used here, or null when they can. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'not root';
  for (const bin of ['ip', 'nft']) {
    try {
      run(['sh', '-c', `command -v ${bin}`]);
    } catch {
      return `${bin} not installed (apt-get install iproute2 nftables)`;
    }
  }
  const probe = `${PREFIX}${process.pid}-probe`;
  try {
    run(['ip', 'netns', 'add', probe]);
    run(['ip', 'netns', 'exec', probe, 'nft', 'list', 'ruleset']);
    return null;
  } catch (err) {
    return `ip netns / nft refused: ${((err as { stderr?: string }).stderr ?? (err as Error).message).trim().split('\n')[0]}`;
  } finally {
    tryRun(['ip', 'netns', 'del', probe]);
  }
}

/** Deletes namespaces left by test processes that are gone (killed before their cleanup ran). */
export function removeStaleNamespaces(): string[] {
  const removed: string[] = [];
  let list = '';
  try {
    list = run(['ip', 'netns', 'list']);
  } catch {
    return removed;
  }
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0]!;
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || fs.existsSync(`/proc/${pid}`)) continue;
    if (tryRun(['ip', 'netns', 'del', name])) removed.push(name);
  }
  return removed;
}

export class NetnsLab {
  private readonly ns = new Map<string, string>();
  private readonly ips = new Map<string, string>();
  private readonly cuts = new Map<string, string[]>();
  readonly subnet: string;
  private destroyed = false;
  private unregister: () => void = () => {};

  private constructor(readonly id: string) {
    // 10.213.<x>.0/24, x from the pid: concurrent runs on one machine get different subnets.
    this.subnet = `10.213.${process.pid % 250}`;
  }

  /** The hub namespace. */
  private get hub(): string {
    return `${PREFIX}${this.id}-hub`;
  }

  /**
   * Creates the hub, the root's link and one namespace per member; `members`
   * maps a member name (letters/digits, ≤ 6 chars) to its host number (2-254).
   */
  static create(members: Record<string, number>): NetnsLab {
    const why = netnsUnavailable();
    if (why) throw new Error(`network namespaces unavailable: ${why}`);
    removeStaleNamespaces();
    const lab = new NetnsLab(String(process.pid));
    lab.unregister = registerCleanup(
      async () => lab.destroy(),
      () => lab.destroy(),
    );
    try {
      lab.build(members);
    } catch (err) {
      lab.destroy();
      throw err;
    }
    return lab;
  }

  private build(members: Record<string, number>): void {
    const hub = this.hub;
    run(['ip', 'netns', 'add', hub]);
    run(['ip', '-n', hub, 'link', 'add', 'br0', 'type', 'bridge']);
    run(['ip', '-n', hub, 'link', 'set', 'br0', 'up']);
    run(['ip', '-n', hub, 'link', 'set', 'lo', 'up']);
    // The root namespace's link: shf<pid>r (root) <-> r (hub).
    const rootIf = `${PREFIX}${this.id}r`.slice(0, 15);
    run(['ip', 'link', 'add', rootIf, 'type', 'veth', 'peer', 'name', 'hr', 'netns', hub]);
    run(['ip', '-n', hub, 'link', 'set', 'hr', 'master', 'br0']);
    run(['ip', '-n', hub, 'link', 'set', 'hr', 'up']);
    run(['ip', 'addr', 'add', `${this.subnet}.1/24`, 'dev', rootIf]);
    run(['ip', 'link', 'set', rootIf, 'up']);
    this.ips.set('root', `${this.subnet}.1`);
    for (const [name, host] of Object.entries(members)) {
      if (!/^[a-z0-9]{1,6}$/.test(name) || host < 2 || host > 254) throw new Error(`bad member ${name}/${host}`);
      const ns = `${PREFIX}${this.id}-${name}`;
      run(['ip', 'netns', 'add', ns]);
      this.ns.set(name, ns);
      run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      // eth0 (member) <-> h-<name> (hub)
      run(['ip', '-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `h-${name}`, 'netns', hub]);
      run(['ip', '-n', hub, 'link', 'set', `h-${name}`, 'master', 'br0']);
      run(['ip', '-n', hub, 'link', 'set', `h-${name}`, 'up']);
      run(['ip', '-n', ns, 'addr', 'add', `${this.subnet}.${host}/24`, 'dev', 'eth0']);
      run(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
      this.ips.set(name, `${this.subnet}.${host}`);
    }
  }

  /** The address of a member ('root' for the root namespace). */
  ip(member: string): string {
    const a = this.ips.get(member);
    if (!a) throw new Error(`no member ${member}`);
    return a;
  }

  /** The namespace of a member. */
  nsOf(member: string): string {
    const n = this.ns.get(member);
    if (!n) throw new Error(`no member ${member}`);
    return n;
  }

  /** argv that runs `cmd args` in the member's namespace. */
  exec(member: string, cmd: string, args: string[]): { cmd: string; args: string[] } {
    return { cmd: 'ip', args: ['netns', 'exec', this.nsOf(member), cmd, ...args] };
  }

  /** Drops all traffic between `member` and each of `peers` (member names, 'root' for the clients), both ways. */
  cut(member: string, peers: string[]): void {
    const ns = this.nsOf(member);
    const addrs = peers.map((p) => this.ip(p));
    const set = `{ ${addrs.join(', ')} }`;
    const rules = [
      'table inet shfault {',
      '  chain input { type filter hook input priority 0; policy accept;',
      `    ip saddr ${set} drop`,
      '  }',
      '  chain output { type filter hook output priority 0; policy accept;',
      `    ip daddr ${set} drop`,
      '  }',
      '}',
    ].join('\n');
    if (this.cuts.has(member)) this.heal(member);
    run(['ip', 'netns', 'exec', ns, 'nft', '-f', '-'], rules + '\n');
    this.cuts.set(member, peers);
  }

  /** Removes the member's cut (if any). */
  heal(member: string): void {
    if (!this.cuts.has(member)) return;
    tryRun(['ip', 'netns', 'exec', this.nsOf(member), 'nft', 'delete', 'table', 'inet', 'shfault']);
    this.cuts.delete(member);
  }

  /** The peers a member is cut from now. */
  cutOf(member: string): string[] {
    return this.cuts.get(member) ?? [];
  }

  /** Deletes every namespace (their veths go with them) and the root's link. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.unregister();
    for (const ns of this.ns.values()) {
      // Anything still running in there is killed by its own cleanup; the namespace goes once they are gone.
      tryRun(['ip', 'netns', 'pids', ns]) && killIn(ns);
      tryRun(['ip', 'netns', 'del', ns]);
    }
    tryRun(['ip', 'netns', 'del', this.hub]);
    tryRun(['ip', 'link', 'del', `${PREFIX}${this.id}r`.slice(0, 15)]);
  }
}

function killIn(ns: string): void {
  let pids: string[] = [];
  try {
    pids = run(['ip', 'netns', 'pids', ns]).split('\n').filter(Boolean);
  } catch {
    return;
  }
  for (const p of pids) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}
