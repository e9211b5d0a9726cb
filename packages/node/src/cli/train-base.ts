/**
 * `convlens train --base MODEL`: transfer learning from the train command, as the lecture writes it
 * (`train --base vgg16 --freeze-until block5_pool --head dense:256`). It is `convlens transfer` with
 * train's flags: options the user left at train's defaults take transfer's defaults instead (5
 * epochs, batch 32, Adam at 1e-3), and train-only options that cannot apply are refused.
 */
import type { Command } from 'commander';
import { transferCommand } from './transfer.ts';

/** Train options that mean nothing for a cut pretrained model (the base fixes the architecture). */
const TRAIN_ONLY = [
  'model',
  'optimizer',
  'momentum',
  'nesterov',
  'limit',
  'patience',
  'minDelta',
  'standardize',
  'resume',
];

const TRANSFER_DEFAULTS: Record<string, unknown> = { epochs: 5, batchSize: 32, lr: 0.001 };

export const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export async function trainFromBase(o: any, cmd?: Command) {
  const given = (k: string) => {
    const src = cmd?.getOptionValueSource(k);
    return src !== undefined && src !== 'default';
  };
  for (const k of TRAIN_ONLY)
    if (given(k)) throw new Error(`--${kebab(k)} does not apply with --base (the base model fixes it)`);
  if (!o.freezeUntil)
    throw new Error('--base needs --freeze-until LAYER (the last layer of the frozen part)');
  if (!given('dataset'))
    throw new Error('--base needs --dataset DIR: an image folder with one subfolder per class');
  const opts = { ...o };
  for (const [k, v] of Object.entries(TRANSFER_DEFAULTS)) if (!given(k)) opts[k] = v;
  return transferCommand({ ...opts, cache: true });
}
