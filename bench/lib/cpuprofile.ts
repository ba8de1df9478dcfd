/** Summarises a V8 .cpuprofile (node --cpu-prof) as top self-time functions and files. */
import fs from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileEntry {
  name: string;
  where: string;
  selfMs: number;
  pct: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Samples that were not idle, as % of the profile. */
  busyPct: number;
  /** Milliseconds not idle; the entries' pct are of this. */
  busyMs: number;
  topFunctions: ProfileEntry[];
  topFiles: ProfileEntry[];
}

function shortUrl(url: string, repoRoot: string): string {
  if (!url) return '';
  let u = url.startsWith('file://') ? url.slice('file://'.length) : url;
  if (u.startsWith(repoRoot + '/')) u = u.slice(repoRoot.length + 1);
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) u = u.slice(nm);
  return u;
}

/**
 * `window`: only samples taken between fromMs and toMs after the profile
 * started (node --cpu-prof starts it at process start).
 */
export function summariseCpuProfile(file: string, repoRoot: string, top = 15, window?: { fromMs: number; toMs: number }): ProfileSummary {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map<number, ProfileNode>();
  for (const n of prof.nodes) byId.set(n.id, n);
  const selfUs = new Map<number, number>();
  const samples = prof.samples ?? [];
  const deltas = prof.timeDeltas ?? [];
  let t = 0; // µs since the profile started
  for (let i = 0; i < samples.length; i++) {
    t += deltas[i] ?? 0;
    if (window && (t < window.fromMs * 1000 || t > window.toMs * 1000)) continue;
    // timeDeltas[i] is the time since the previous sample; attribute the gap after sample i to it
    const dt = deltas[i + 1] ?? 0;
    selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + Math.max(0, dt));
  }
  const fn = new Map<string, { name: string; where: string; us: number }>();
  const files = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n) continue;
    total += us;
    const cf = n.callFrame;
    const name = cf.functionName || '(anonymous)';
    if (name === '(idle)') idle += us;
    const url = shortUrl(cf.url, repoRoot);
    const where = url ? `${url}:${cf.lineNumber + 1}` : '';
    const key = `${name}@${where}`;
    const e = fn.get(key) ?? { name, where, us: 0 };
    e.us += us;
    fn.set(key, e);
    const fkey = url || name;
    files.set(fkey, (files.get(fkey) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us: number) => (busy > 0 ? (100 * us) / busy : 0);
  fn.delete('(idle)@');
  files.delete('(idle)');
  return {
    file,
    totalMs: total / 1000,
    busyPct: total > 0 ? (100 * busy) / total : 0,
    busyMs: busy / 1000,
    topFunctions: [...fn.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => ({ name: e.name, where: e.where, selfMs: e.us / 1000, pct: pct(e.us) })),
    topFiles: [...files.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => ({ name: path.basename(k), where: k, selfMs: us / 1000, pct: pct(us) })),
  };
}

export function findNewestCpuProfile(dir: string): string | null {
  if (!fs.existsSync(dir)) return null;
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(dir, f))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return files[0] ?? null;
}
