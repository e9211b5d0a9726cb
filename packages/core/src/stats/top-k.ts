/**
 * Top-k images per filter: the k dataset images whose activation (max over positions) is highest,
 * with where it peaked, its receptive-field box and optionally the input patch under it. Order is
 * value descending, then image index ascending, so any merge order keeps exactly the same entries.
 */
import type { Box } from '../inspect/receptive-field.ts';
import { fromBase64, toBase64 } from './codec.ts';

export interface TopEntry {
  /** Index of the image in the dataset (global across shards). */
  image: number;
  label: number;
  value: number;
  /** Output position of the peak (0, 0 for dense units). */
  y: number;
  x: number;
  /** Receptive-field box in input pixels, clipped to the image. */
  box: Box;
  /** Input bytes under `box` (box height × width × channels), when the collector could crop them. */
  patch?: Uint8Array;
}

export interface TopK {
  k: number;
  filters: number;
  /** Per filter, best first. */
  entries: TopEntry[][];
}

export interface TopEntryJSON extends Omit<TopEntry, 'patch'> {
  patch?: string;
}
export interface TopKJSON {
  k: number;
  filters: number;
  entries: TopEntryJSON[][];
}

export function createTopK(k: number, filters: number): TopK {
  if (!(Number.isInteger(k) && k >= 1)) throw new Error(`top-k: k must be a positive integer, got ${k}`);
  return { k, filters, entries: Array.from({ length: filters }, () => []) };
}

/** True when a ranks before b. */
const before = (a: { value: number; image: number }, b: { value: number; image: number }) =>
  a.value > b.value || (a.value === b.value && a.image < b.image);

/** Would an entry with this value and image make filter f's list? (cheap test before building it) */
export function qualifies(s: TopK, f: number, value: number, image: number): boolean {
  const list = s.entries[f];
  return list.length < s.k || before({ value, image }, list[list.length - 1]);
}

/** Inserts an entry in order, dropping the k+1-th. */
export function insertTop(s: TopK, f: number, e: TopEntry): void {
  const list = s.entries[f];
  let i = list.length;
  while (i > 0 && before(e, list[i - 1])) i--;
  if (i >= s.k) return;
  list.splice(i, 0, e);
  if (list.length > s.k) list.pop();
}

export function mergeTopK(a: TopK, b: TopK): TopK {
  if (a.k !== b.k || a.filters !== b.filters)
    throw new Error(`top-k differ (k ${a.k} vs ${b.k}, ${a.filters} vs ${b.filters} filters)`);
  const out = createTopK(a.k, a.filters);
  for (let f = 0; f < a.filters; f++)
    for (const e of [...a.entries[f], ...b.entries[f]]) insertTop(out, f, e);
  return out;
}

export const topKToJSON = (s: TopK): TopKJSON => ({
  k: s.k,
  filters: s.filters,
  entries: s.entries.map((list) =>
    list.map(({ patch, ...e }) => (patch ? { ...e, patch: toBase64(patch) } : e)),
  ),
});

export function topKFromJSON(j: TopKJSON): TopK {
  if (!Array.isArray(j.entries) || j.entries.length !== j.filters) throw new Error('top-k: corrupt entries');
  return {
    k: j.k,
    filters: j.filters,
    entries: j.entries.map((list) =>
      list.map(({ patch, ...e }) => (patch !== undefined ? { ...e, patch: fromBase64(patch) } : { ...e })),
    ),
  };
}
