/**
 * Checkpoints: model weights, optimizer state (Adam moments, momentum accumulators, iteration count)
 * and the epoch records, written as one directory. The swap is recoverable: the new copy is written
 * under `.last.tmp-<pid>-…` and fsynced, the old `last` becomes `last.prev`, then the new one becomes
 * `last`; a crash between the renames leaves two complete copies under other names, and
 * recoverCheckpoint picks the newest complete one (checkpoint-recovery.ts).
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { tf } from '@convlens/core/engine/backend';
import type { EpochRecord } from '@convlens/core/train/history';
import { tempSibling } from '../io/atomic.ts';
import { loadModel, saveModel } from '../io/model-io.ts';
import { removeOrphanCopies } from './checkpoint-recovery.ts';
import { fsyncDir, fsyncTree } from './fsync.ts';
import { readJsonFile } from './run-dir.ts';

export interface CheckpointState {
  epoch: number;
  records: EpochRecord[];
  optimizer: { specs: tf.io.WeightsManifestEntry[]; bytes: number };
  savedAt: string;
}

export async function saveCheckpoint(
  dir: string,
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  records: EpochRecord[],
): Promise<void> {
  const optWeights = await optimizer.getWeights();
  const { data, specs } = await tf.io.encodeWeights(optWeights);
  // getWeights returns the optimizer's own variables plus a fresh iteration-count scalar: free that.
  for (const w of optWeights) if (!(w.tensor instanceof tf.Variable)) w.tensor.dispose();
  const bytes = new Uint8Array(data);
  const state: CheckpointState = {
    epoch: records.at(-1)?.epoch ?? 0,
    records,
    optimizer: { specs, bytes: bytes.byteLength },
    savedAt: new Date().toISOString(),
  };
  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  await removeOrphanCopies(parent, basename(dir));
  const tmp = tempSibling(dir);
  try {
    await mkdir(tmp);
    await saveModel(model, join(tmp, 'model'));
    await writeFile(join(tmp, 'optimizer.bin'), bytes);
    // state.json last: a copy with a readable state (and matching sizes) is complete.
    await writeFile(join(tmp, 'state.json'), JSON.stringify(state));
    await fsyncTree(tmp);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  const prev = `${dir}.prev`;
  await rm(prev, { recursive: true, force: true });
  await rename(dir, prev).catch((err) => {
    if (err?.code !== 'ENOENT') throw err;
  });
  await rename(tmp, dir);
  await fsyncDir(parent);
}

export interface LoadedCheckpoint {
  model: tf.LayersModel;
  epoch: number;
  records: EpochRecord[];
  /** Restores the optimizer's state; call after the optimizer has been created. */
  restoreOptimizer(optimizer: tf.Optimizer): Promise<void>;
}

export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const state = await readJsonFile<CheckpointState>(join(dir, 'state.json'), 'checkpoint state');
  if (!Number.isInteger(state?.epoch) || !Array.isArray(state.records) || !state.optimizer?.specs) {
    throw new Error(`${join(dir, 'state.json')}: corrupt checkpoint state`);
  }
  const binPath = join(dir, 'optimizer.bin');
  const bin = await readFile(binPath).catch((err) => {
    throw new Error(`${binPath}: cannot read optimizer state (${err.code})`);
  });
  if (bin.byteLength !== state.optimizer.bytes) {
    throw new Error(
      `${binPath}: corrupt checkpoint: ${bin.byteLength} bytes, expected ${state.optimizer.bytes}`,
    );
  }
  const { model } = await loadModel(join(dir, 'model'));
  return {
    model,
    epoch: state.epoch,
    records: state.records,
    async restoreOptimizer(optimizer) {
      const buf = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer;
      const map = tf.io.decodeWeights(buf, state.optimizer.specs);
      // Optimizers restore positionally (the order getWeights wrote), so keep spec order.
      await optimizer.setWeights(state.optimizer.specs.map((s) => ({ name: s.name, tensor: map[s.name] })));
    },
  };
}
