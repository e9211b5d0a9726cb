/**
 * Finds a dataset's IDX files on disk, or downloads them. Order for a named dataset:
 * --data-dir, $CONVLENS_DATA_DIR/<name>, the user cache, /usr/share/datasets/<name>, then download.
 * The first folder holding the test split wins; training files are optional (MNIST here has none).
 */
import { readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import {
  DATASET_NAMES,
  DATASETS,
  type DatasetSpec,
  IDX_FILES,
  type IdxRole,
  idxFileList,
} from './catalog.ts';
import { type DownloadOptions, downloadDataset } from './download.ts';

export type DatasetFiles = Record<'testImages' | 'testLabels', string> &
  Partial<Record<'trainImages' | 'trainLabels', string>>;

export type DatasetOrigin = 'data-dir' | 'env' | 'cache' | 'system' | 'download' | 'folder';

export interface ResolvedDataset {
  /** Catalog name, or the absolute folder for a dataset given as a path. */
  name: string;
  spec?: DatasetSpec;
  dir: string;
  origin: DatasetOrigin;
  /** Absolute paths of the files found. */
  files: DatasetFiles;
  hasTrain: boolean;
  /** Places checked before `dir`, with why each was passed over. */
  looked: string[];
}

export interface ResolveOptions {
  /** --data-dir: a folder holding the files, or holding <name>/ with them. */
  dataDir?: string;
  /** Environment to read CONVLENS_DATA_DIR and XDG_CACHE_HOME from (default process.env). */
  env?: Record<string, string | undefined>;
  /** Home folder for the default cache (default os.homedir()). */
  homeDir?: string;
  /** System dataset roots (default ['/usr/share/datasets']). */
  systemDirs?: string[];
  /** Download when nothing is found locally (default true). */
  download?: boolean;
  downloadOptions?: DownloadOptions;
}

/** Thrown when no place holds the dataset; `looked` lists every place checked. */
export class DatasetNotFoundError extends Error {
  constructor(
    message: string,
    readonly looked: string[],
  ) {
    super(message);
    this.name = 'DatasetNotFoundError';
  }
}

/** `$XDG_CACHE_HOME/convlens` or `~/.cache/convlens`. */
export function cacheRoot(env: Record<string, string | undefined> = process.env, home = homedir()): string {
  const xdg = env.XDG_CACHE_HOME;
  // The XDG spec says relative values are invalid and must be ignored.
  return join(xdg && isAbsolute(xdg) ? xdg : join(home, '.cache'), 'convlens');
}

const ROLE_PATTERNS: Record<IdxRole, RegExp> = {
  trainImages: /(^|[-_.])train-images-idx[34]-ubyte(\.gz)?$/,
  trainLabels: /(^|[-_.])train-labels-idx1-ubyte(\.gz)?$/,
  testImages: /(^|[-_.])(t10k|test)-images-idx[34]-ubyte(\.gz)?$/,
  testLabels: /(^|[-_.])(t10k|test)-labels-idx1-ubyte(\.gz)?$/,
};

/**
 * Picks the file for one role among a folder's entries: the standard name (raw before .gz), else the
 * one file whose name ends like it (e.g. emnist-digits-test-images-idx3-ubyte.gz).
 */
function pickFile(entries: string[], role: IdxRole): { file?: string; problem?: string } {
  const std = IDX_FILES[role];
  for (const f of [std, `${std}.gz`]) if (entries.includes(f)) return { file: f };
  const matches = entries.filter((e) => ROLE_PATTERNS[role].test(e));
  const stems = [...new Set(matches.map((m) => m.replace(/\.gz$/, '')))];
  if (stems.length > 1) return { problem: `several files could be ${std}: ${matches.join(', ')}` };
  if (stems.length === 0) return {};
  return { file: matches.includes(stems[0]) ? stems[0] : `${stems[0]}.gz` };
}

/** Checks one folder. Returns the files, or why the folder does not hold the dataset. */
export async function scanDatasetDir(dir: string): Promise<{ files?: DatasetFiles; problem?: string }> {
  let entries: string[];
  try {
    if (!(await stat(dir)).isDirectory()) return { problem: 'not a folder' };
    entries = await readdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { problem: code === 'ENOENT' ? 'not found' : `unreadable (${code ?? (e as Error).message})` };
  }
  const found: Partial<Record<IdxRole, string>> = {};
  for (const role of Object.keys(IDX_FILES) as IdxRole[]) {
    const { file, problem } = pickFile(entries, role);
    if (problem) return { problem };
    if (file) found[role] = join(dir, file);
  }
  const missing = (roles: IdxRole[]) => roles.filter((r) => !found[r]).map((r) => `${IDX_FILES[r]}[.gz]`);
  const testMissing = missing(['testImages', 'testLabels']);
  if (testMissing.length) return { problem: `no ${testMissing.join(' or ')}` };
  if (found.trainImages && !found.trainLabels) {
    return { problem: `has ${IDX_FILES.trainImages} but no ${IDX_FILES.trainLabels}[.gz]` };
  }
  const files: DatasetFiles = { testImages: found.testImages!, testLabels: found.testLabels! };
  if (found.trainImages) {
    files.trainImages = found.trainImages;
    files.trainLabels = found.trainLabels;
  }
  return { files };
}

interface Candidate {
  dir: string;
  origin: DatasetOrigin;
  label: string;
}

/** Every local place a named dataset may be, in resolution order (with a note for unset options). */
export function candidateDirs(
  name: string,
  opts: ResolveOptions = {},
): { candidates: Candidate[]; notes: string[] } {
  const env = opts.env ?? process.env;
  const candidates: Candidate[] = [];
  const notes: string[] = [];
  if (opts.dataDir) {
    const d = resolvePath(opts.dataDir);
    candidates.push({ dir: join(d, name), origin: 'data-dir', label: `--data-dir ${join(d, name)}` });
    candidates.push({ dir: d, origin: 'data-dir', label: `--data-dir ${d}` });
  }
  if (env.CONVLENS_DATA_DIR) {
    const d = join(resolvePath(env.CONVLENS_DATA_DIR), name);
    candidates.push({ dir: d, origin: 'env', label: `$CONVLENS_DATA_DIR ${d}` });
  } else {
    notes.push('$CONVLENS_DATA_DIR (not set)');
  }
  const cache = join(cacheRoot(env, opts.homeDir ?? homedir()), name);
  candidates.push({ dir: cache, origin: 'cache', label: `cache ${cache}` });
  for (const root of opts.systemDirs ?? ['/usr/share/datasets']) {
    candidates.push({ dir: join(root, name), origin: 'system', label: join(root, name) });
  }
  return { candidates, notes };
}

function howToProvide(name: string): string {
  return (
    `To provide the files, put ${idxFileList()} (gzipped or raw; the two t10k files alone are enough) ` +
    `in a folder and pass --data-dir FOLDER, or set CONVLENS_DATA_DIR to a folder holding ${name}/.`
  );
}

/** Looks a dataset up by catalog name or folder path; downloads a named one when no folder has it. */
export async function resolveDataset(
  nameOrPath: string,
  opts: ResolveOptions = {},
): Promise<ResolvedDataset> {
  const spec = DATASETS[nameOrPath];
  if (!spec) return resolveFolder(nameOrPath);
  const name = spec.name;
  const { candidates, notes } = candidateDirs(name, opts);
  const looked: string[] = [];
  for (const c of candidates) {
    const { files, problem } = await scanDatasetDir(c.dir);
    if (files)
      return { name, spec, dir: c.dir, origin: c.origin, files, hasTrain: !!files.trainImages, looked };
    looked.push(`${c.label} (${problem})`);
  }
  looked.push(...notes);
  const where = `Looked in: ${looked.join('; ')}.`;
  if (opts.download === false) {
    throw new DatasetNotFoundError(
      `dataset '${name}' not found and downloads are off. ${where} ${howToProvide(name)}`,
      looked,
    );
  }
  const cacheDir = candidates.find((c) => c.origin === 'cache')!.dir;
  try {
    await downloadDataset(spec, cacheDir, opts.downloadOptions);
  } catch (e) {
    throw new DatasetNotFoundError(
      `dataset '${name}' not found and could not be downloaded. ${where} Download failed: ${(e as Error).message}. ${howToProvide(name)}`,
      looked,
    );
  }
  const { files, problem } = await scanDatasetDir(cacheDir);
  if (!files)
    throw new Error(`dataset '${name}': downloaded into ${cacheDir} but the folder is unusable (${problem})`);
  return { name, spec, dir: cacheDir, origin: 'download', files, hasTrain: !!files.trainImages, looked };
}

/** A dataset given as a folder path (anything that is not a catalog name). */
async function resolveFolder(path: string): Promise<ResolvedDataset> {
  const looksLikePath = /[/\\]/.test(path) || path.startsWith('.');
  const dir = resolvePath(path);
  const { files, problem } = await scanDatasetDir(dir);
  if (files) return { name: dir, dir, origin: 'folder', files, hasTrain: !!files.trainImages, looked: [] };
  if (problem === 'not found' && !looksLikePath) {
    throw new Error(
      `unknown dataset '${path}': expected one of ${DATASET_NAMES.join(', ')}, or a folder holding ${idxFileList()}`,
    );
  }
  throw new Error(
    `dataset folder ${dir}: ${problem}; a dataset folder holds ${idxFileList()} (t10k files required)`,
  );
}
