/**
 * fsync before rename: without it a power loss can publish a renamed folder whose files are still
 * empty. Folder fsyncs persist the renames themselves; platforms that refuse them are ignored.
 */
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function fsyncDir(path: string): Promise<void> {
  await fsyncFile(path).catch((err) => {
    if (!['EISDIR', 'EPERM', 'EINVAL', 'EBADF', 'EACCES'].includes(err?.code)) throw err;
  });
}

/** Every file under `dir`, then every folder (innermost first), then `dir` itself. */
export async function fsyncTree(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await fsyncTree(p);
    else if (e.isFile()) await fsyncFile(p);
  }
  await fsyncDir(dir);
}
