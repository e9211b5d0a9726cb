/**
 * Checkpoints: model weights, optimizer state (Adam moments, momentum accumulators, iteration count)
 * and the epoch records, written as one directory that replaces the previous one atomically.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tf } from '@convlens/core/engine/backend';
import type { EpochRecord } from '@convlens/core/train/history';
import { writeDirAtomic } from '../io/atomic.ts';
import { loadModel, saveModel } from '../io/model-io.ts';
import { readJsonFile } from './run-dir.ts';

interface CheckpointState {
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
  const bytes = new Uint8Array(data);
  const state: CheckpointState = {
    epoch: records.at(-1)?.epoch ?? 0,
    records,
    optimizer: { specs, bytes: bytes.byteLength },
    savedAt: new Date().toISOString(),
  };
  await writeDirAtomic(dir, async (tmp) => {
    await saveModel(model, join(tmp, 'model'));
    await writeFile(join(tmp, 'optimizer.bin'), bytes);
    await writeFile(join(tmp, 'state.json'), JSON.stringify(state));
  });
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
