/**
 * Run in a child process by harden-files.test.ts: reads one hostile file (an IDX .gz or a .keras zip)
 * and prints {error, seconds, maxRssMB} as JSON, so peak memory is measured for that read alone.
 */
import { readFile } from 'node:fs/promises';
import { readIdxFile } from '../src/data/read-idx.ts';
import { readZip } from '../src/import/zip-read.ts';

const [kind, path] = process.argv.slice(2);
const t = performance.now();
let error = '';
try {
  if (kind === 'idx') await readIdxFile(path);
  else readZip(await readFile(path), path);
} catch (e) {
  error = (e as Error).message;
}
const seconds = (performance.now() - t) / 1000;
process.stdout.write(
  `${JSON.stringify({ error, seconds, maxRssMB: process.resourceUsage().maxRSS / 1024 })}\n`,
);
