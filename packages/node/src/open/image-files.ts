/**
 * Image-folder layouts as labelled file lists: ROOT/<class>/<image> (ImageFolder), a flat folder with a
 * labels CSV (file,label), or a flat folder with no labels. Files are only listed here; decoding streams.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, relative, resolve } from 'node:path';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp', '.gif', '.tif', '.tiff', '.avif'];

export const isImageFile = (name: string) =>
  !name.startsWith('.') && IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());

export interface ImageFile {
  path: string;
  /** Index into the listing's classNames; -1 when unlabelled. */
  label: number;
}

export interface ImageListing {
  layout: 'class-folders' | 'labels-csv' | 'unlabelled';
  root: string;
  /** The labels as the data names them (folder names, CSV labels), sorted; empty when unlabelled. */
  classNames: string[];
  files: ImageFile[];
}

async function entries(dir: string) {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err: any) {
    throw new Error(`${dir}: cannot read folder (${err.code === 'ENOENT' ? 'not found' : err.code})`);
  }
}

/** Lists ROOT: class folders when it has subfolders with images, else the flat images with labels CSV. */
export async function listImages(root: string, labelsCsv?: string): Promise<ImageListing> {
  const top = await entries(root);
  const flat = top.filter((e) => e.isFile() && isImageFile(e.name)).map((e) => e.name);
  const csv =
    labelsCsv ??
    (top.some((e) => e.isFile() && e.name === 'labels.csv') ? join(root, 'labels.csv') : undefined);
  if (csv) return fromCsv(root, csv);
  const dirs = top.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
  const classNames: string[] = [];
  const files: ImageFile[] = [];
  for (const name of dirs.sort()) {
    const inside = (await entries(join(root, name))).filter((e) => e.isFile() && isImageFile(e.name));
    if (inside.length === 0) continue;
    const label = classNames.push(name) - 1;
    for (const f of inside.map((e) => e.name).sort()) files.push({ path: join(root, name, f), label });
  }
  if (files.length > 0) {
    if (flat.length > 0)
      throw new Error(
        `${root}: holds both class folders and loose images (${flat[0]}); use one layout (ROOT/<class>/<image>, or flat images with labels.csv)`,
      );
    return { layout: 'class-folders', root, classNames, files };
  }
  if (flat.length === 0)
    throw new Error(
      `${root}: no images found (${IMAGE_EXTENSIONS.join(' ')} files, directly or in class folders)`,
    );
  return {
    layout: 'unlabelled',
    root,
    classNames: [],
    files: flat.sort().map((f) => ({ path: join(root, f), label: -1 })),
  };
}

/** A CSV of file,label rows (a header row is recognized and skipped); files relative to ROOT. */
async function fromCsv(root: string, csvPath: string): Promise<ImageListing> {
  let text: string;
  try {
    text = await readFile(csvPath, 'utf8');
  } catch (err: any) {
    throw new Error(
      `${csvPath}: cannot read labels CSV (${err.code === 'ENOENT' ? 'file not found' : err.code})`,
    );
  }
  const rows: { path: string; label: string; line: number }[] = [];
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (!line) continue;
    const cells = line.split(',').map((c) => c.trim().replace(/^"(.*)"$/, '$1'));
    if (
      rows.length === 0 &&
      i === lines.findIndex((l) => l.trim()) &&
      /^(file|filename|path|image)$/i.test(cells[0])
    )
      continue;
    if (cells.length < 2 || !cells[0] || !cells[1])
      throw new Error(`${csvPath}:${i + 1}: expected 'file,label', got '${line}'`);
    const path = resolve(root, cells[0]);
    if (relative(resolve(root), path).startsWith('..'))
      throw new Error(`${csvPath}:${i + 1}: '${cells[0]}' is outside ${root}`);
    rows.push({ path, label: cells.slice(1).join(','), line: i + 1 });
  }
  if (rows.length === 0) throw new Error(`${csvPath}: no rows (expected 'file,label' lines)`);
  for (const r of rows) {
    const s = await stat(r.path).catch(() => null);
    if (!s?.isFile())
      throw new Error(`${csvPath}:${r.line}: names a missing file '${relative(root, r.path)}'`);
  }
  const classNames = [...new Set(rows.map((r) => r.label))].sort(numericFirst);
  const index = new Map(classNames.map((c, i) => [c, i]));
  return {
    layout: 'labels-csv',
    root,
    classNames,
    files: rows.map((r) => ({ path: r.path, label: index.get(r.label)! })),
  };
}

/** Numbers in numeric order (so '10' follows '9'), then names. */
function numericFirst(a: string, b: string): number {
  const na = /^\d+$/.test(a);
  const nb = /^\d+$/.test(b);
  if (na && nb) return Number(a) - Number(b);
  if (na !== nb) return na ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
