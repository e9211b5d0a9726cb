/**
 * What a scheduled shard asks for, in Slurm's own notation (`--time 2:00:00`, `--mem 4G`), checked
 * up front with one line naming the flag, and the same values in Kubernetes' notation.
 */

/** Slurm's time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S. Returns seconds. */
export function parseSlurmTime(v: string, flag = '--time'): number {
  const s = v.trim();
  const bad = () =>
    new Error(`${flag} must be a Slurm time limit (minutes, M:S, H:M:S, D-H, D-H:M or D-H:M:S), got '${v}'`);
  const m = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(s);
  if (!m) throw bad();
  const [, d, a, b, c] = m;
  const n = (x: string | undefined) => (x === undefined ? 0 : Number(x));
  let seconds: number;
  if (d !== undefined) {
    // D-H, D-H:M, D-H:M:S
    seconds = n(d) * 86400 + n(a) * 3600 + n(b) * 60 + n(c);
    if (n(b) > 59 || n(c) > 59) throw bad();
  } else if (c !== undefined) {
    seconds = n(a) * 3600 + n(b) * 60 + n(c); // H:M:S
    if (n(b) > 59 || n(c) > 59) throw bad();
  } else if (b !== undefined) {
    seconds = n(a) * 60 + n(b); // M:S
    if (n(b) > 59) throw bad();
  } else seconds = n(a) * 60; // M
  if (seconds < 1) throw new Error(`${flag} must be at least a second, got '${v}'`);
  return seconds;
}

/** Slurm memory: an integer with an optional K, M, G or T suffix (binary units; no suffix is MB). */
export function parseSlurmMem(v: string, flag = '--mem'): { slurm: string; bytes: number } {
  const m = /^(\d+)([KMGT]?)$/i.exec(v.trim());
  if (!m || Number(m[1]) < 1)
    throw new Error(`${flag} must be a positive integer with an optional K, M, G or T suffix, got '${v}'`);
  const unit = (m[2] || 'M').toUpperCase();
  const scale = { K: 1, M: 2, G: 3, T: 4 }[unit as 'K' | 'M' | 'G' | 'T'];
  return { slurm: `${m[1]}${unit}`, bytes: Number(m[1]) * 1024 ** scale };
}

/** The same amount as a Kubernetes quantity (Ki, Mi, Gi, Ti). */
export function kubeMemory(slurmMem: string): string {
  const m = /^(\d+)([KMGT])$/.exec(slurmMem);
  if (!m) throw new Error(`not a Slurm memory amount: '${slurmMem}'`);
  return `${m[1]}${m[2]}i`;
}

/**
 * A Kubernetes object name (DNS-1123 label) from free text: lower case, [a-z0-9-], starting and
 * ending with an alphanumeric; at most `max` characters (an Indexed Job's pods append "-<index>-xxxxx").
 */
export function kubeName(text: string, max = 50): string {
  const s = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .slice(0, max)
    .replace(/^-+|-+$/g, '');
  return s === '' ? 'convlens' : /^[a-z]/.test(s) ? s : `c-${s}`.slice(0, max);
}
