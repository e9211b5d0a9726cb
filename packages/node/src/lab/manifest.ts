/**
 * The lab's cache/resume manifest (DIR/lab.json): for every finished stage its key, wall time and
 * result (figures + numbers). Rewritten atomically after each stage, so a killed run resumes from
 * the last finished one, and a re-run with the same settings reuses every stage whose key matches.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.ts';
import type { StageResult } from './types.ts';

export const MANIFEST_FILE = 'lab.json';

export interface StageRecord {
  key: string;
  seconds: number;
  finishedAt: string;
  result: StageResult;
}

export interface Manifest {
  format: 'convlens-lab';
  version: 1;
  stages: Record<string, StageRecord>;
}

export const emptyManifest = (): Manifest => ({ format: 'convlens-lab', version: 1, stages: {} });

export async function readManifest(dir: string): Promise<Manifest | undefined> {
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err: any) {
    if (err.code === 'ENOENT') return undefined;
    throw new Error(`${path}: cannot read the lab manifest (${err.code})`);
  }
  try {
    const m = JSON.parse(text) as Manifest;
    if (m.format !== 'convlens-lab' || typeof m.stages !== 'object') throw new Error('format');
    return m;
  } catch {
    throw new Error(`${path}: not a convlens lab manifest (corrupt?); use another --out or delete it`);
  }
}

export async function writeManifest(dir: string, m: Manifest): Promise<void> {
  await writeJsonAtomic(join(dir, MANIFEST_FILE), m);
}
