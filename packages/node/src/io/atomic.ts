/**
 * Atomic file output: write to a temporary sibling, then rename. A crash or a bad input never leaves
 * a half-written file under the final name. Folders are made with ensureDir (never a recursive mkdir,
 * which loops forever under /proc), and write errors name the output, not the temporary sibling.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ensureDir } from './ensure-dir.ts';
import { outputLabel, writeError } from './write-errors.ts';

export function tempSibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await ensureDir(dirname(path), undefined, outputLabel(path));
  const tmp = tempSibling(path);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw writeError(err, path, tmp);
  }
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Fills a directory atomically: `fill` writes into a fresh temporary directory, which then replaces
 * `dir` (the old one is moved aside first and removed after, so `dir` is always complete or absent).
 */
export async function writeDirAtomic(dir: string, fill: (tmpDir: string) => Promise<void>): Promise<void> {
  await ensureDir(dirname(dir), undefined, outputLabel(dir));
  const tmp = tempSibling(dir);
  const old = `${tmp}-old`;
  try {
    await mkdir(tmp);
  } catch (err) {
    throw writeError(err, dir, tmp);
  }
  try {
    await fill(tmp);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw writeError(err, dir, tmp);
  }
  let moved = false;
  try {
    await rename(dir, old);
    moved = true;
  } catch (err: any) {
    if (err?.code !== 'ENOENT') {
      await rm(tmp, { recursive: true, force: true });
      throw writeError(err, dir, tmp, old);
    }
  }
  try {
    await rename(tmp, dir);
  } catch (err) {
    throw writeError(err, dir, tmp);
  }
  if (moved) await rm(old, { recursive: true, force: true });
}
