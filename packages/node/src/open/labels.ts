/** Class names from a labels file: a JSON array, {"labels": [...]}, or one name per line. */
import { readFile } from 'node:fs/promises';
import { classNamesFromMetadata } from '@convlens/core/preprocess/presets';

export async function readLabelsFile(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err: any) {
    throw new Error(`${path}: cannot read labels (${err.code === 'ENOENT' ? 'file not found' : err.code})`);
  }
  let names: string[] | undefined;
  if (/^\s*[[{]/.test(text)) {
    try {
      names = classNamesFromMetadata(JSON.parse(text));
    } catch {
      throw new Error(`${path}: labels file is not valid JSON`);
    }
  } else
    names = text
      .split(/\r?\n/)
      .map((s) => s.trim())
      .filter(Boolean);
  if (!names?.length)
    throw new Error(`${path}: no class names (a JSON array, {"labels": [...]}, or one per line)`);
  return names;
}
