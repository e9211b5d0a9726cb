/** Every command's output-folder flags, checked before the command runs (see io/ensure-dir.ts). */
import { checkOutputFlag } from '../io/ensure-dir.ts';

/** Option keys (commander's camelCase) that name an output folder, with their flag. */
const OUTPUT_FLAGS: [key: string, flag: string][] = [
  ['out', '--out'],
  ['outDir', '--out-dir'],
];

export async function checkOutputFlags(opts: Record<string, unknown>): Promise<void> {
  for (const [key, flag] of OUTPUT_FLAGS) {
    const v = opts[key];
    if (typeof v === 'string' && v !== '') await checkOutputFlag(v, flag);
  }
}
