/**
 * Reads a features folder (convlens features): index.json, features.npy (float32 N×F) and labels.csv
 * (index,file,label,class,split), checking that the three agree; any problem is one line naming the
 * file and what is wrong.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FeaturePool } from '@convlens/core/features/pool';
import { parseNpy } from '@convlens/core/methods/actmax/npy';

export interface FeaturesIndex {
  format: 'convlens-features';
  version: 1;
  model: { source: string; fingerprint: string };
  layer: string;
  pool: FeaturePool;
  /** [N, F]. */
  shape: [number, number];
  /** The layer's output before pooling: [h, w, c] (or [units]). */
  layerShape: number[];
  dataset: { name: string; description: string; count: number; fingerprint: string };
  /** describePreprocess's line (text) and the preprocessing settings. */
  preprocess: { text: string } & Record<string, unknown>;
  classNames: string[];
  seed: number;
  testFraction: number;
  /** This folder's shard (0-based index; start/end: its images' positions in the selection), or null. */
  shard: { index: number; count: number; start?: number; end?: number } | null;
  files: { features: string; labels: string };
}

export interface Features {
  index: FeaturesIndex;
  /** Row-major N×F. */
  features: Float32Array;
  n: number;
  f: number;
  /** Class index per row; -1 = unlabelled. */
  labels: Int32Array;
  files: string[];
  /** Class name per row ('' when unlabelled). */
  classes: string[];
  split: ('train' | 'test')[];
}

/** RFC-4180 rows (quoted fields with "" escapes and line breaks; CRLF or LF). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += ch;
      i++;
      continue;
    }
    if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      if (ch === '\r' && text[i + 1] === '\n') i++;
    } else field += ch;
    i++;
  }
  if (quoted) throw new Error('unterminated quoted field');
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

async function readText(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err: any) {
    throw new Error(`${path}: cannot read ${what} (${err.code === 'ENOENT' ? 'not found' : err.code})`);
  }
}

function checkIndex(j: any, path: string): FeaturesIndex {
  const bad = (what: string) => new Error(`${path}: ${what}`);
  if (!j || typeof j !== 'object' || j.format !== 'convlens-features')
    throw bad("not a convlens features index (format is not 'convlens-features')");
  if (j.version !== 1) throw bad(`features format version ${j.version} is not supported (1 expected)`);
  if (typeof j.layer !== 'string' || typeof j.model?.fingerprint !== 'string')
    throw bad('missing layer or model fingerprint');
  if (!['avg', 'max', 'flatten'].includes(j.pool)) throw bad(`pool '${j.pool}' is not avg, max or flatten`);
  if (
    !Array.isArray(j.shape) ||
    j.shape.length !== 2 ||
    !j.shape.every((v: unknown) => Number.isInteger(v) && (v as number) >= 0)
  )
    throw bad('shape must be [N, F]');
  if (!Array.isArray(j.classNames)) throw bad('classNames missing');
  if (typeof j.files?.features !== 'string' || typeof j.files?.labels !== 'string')
    throw bad('files.features / files.labels missing');
  return j as FeaturesIndex;
}

/** Reads and validates a features folder. */
export async function readFeatures(dir: string): Promise<Features> {
  const indexPath = join(dir, 'index.json');
  let json: unknown;
  const text = (await readText(indexPath, 'the features index')).toString('utf8');
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${indexPath}: not valid JSON (corrupt or truncated)`);
  }
  const index = checkIndex(json, indexPath);
  const [N, F] = index.shape;

  const npyPath = join(dir, index.files.features);
  const bytes = await readText(npyPath, 'the features');
  const npy = parseNpy(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), npyPath);
  if (npy.shape.length !== 2 || npy.shape[0] !== N || npy.shape[1] !== F)
    throw new Error(`${npyPath}: shape (${npy.shape.join(', ')}) does not match index.json's [${N}, ${F}]`);

  const csvPath = join(dir, index.files.labels);
  let rows: string[][];
  try {
    rows = parseCsv((await readText(csvPath, 'the labels')).toString('utf8'));
  } catch (err) {
    if ((err as Error).message.startsWith(csvPath)) throw err;
    throw new Error(`${csvPath}: ${(err as Error).message}`);
  }
  const header = rows[0]?.join(',');
  if (header !== 'index,file,label,class,split')
    throw new Error(`${csvPath}: header must be 'index,file,label,class,split', got '${header ?? ''}'`);
  const body = rows.slice(1).filter((r) => !(r.length === 1 && r[0] === ''));
  if (body.length !== N)
    throw new Error(
      `${csvPath}: ${body.length} rows, but features.npy has ${N} (labels do not match the features)`,
    );
  const labels = new Int32Array(N);
  const files: string[] = [];
  const classes: string[] = [];
  const split: ('train' | 'test')[] = [];
  body.forEach((r, i) => {
    const at = `${csvPath}:${i + 2}`;
    if (r.length !== 5)
      throw new Error(`${at}: expected 5 fields (index,file,label,class,split), got ${r.length}`);
    if (Number(r[0]) !== i || r[0] === '') throw new Error(`${at}: index ${r[0]} should be ${i}`);
    const label = r[2] === '' ? -1 : Number(r[2]);
    if (
      !Number.isInteger(label) ||
      label < -1 ||
      (label >= 0 && index.classNames.length > 0 && label >= index.classNames.length)
    )
      throw new Error(
        `${at}: label '${r[2]}' is not a class index (0–${index.classNames.length - 1}) or empty`,
      );
    if (r[4] !== 'train' && r[4] !== 'test') throw new Error(`${at}: split '${r[4]}' is not train or test`);
    labels[i] = label;
    files.push(r[1]);
    classes.push(r[3]);
    split.push(r[4]);
  });
  return { index, features: npy.data, n: N, f: F, labels, files, classes, split };
}
