/**
 * A short identity for a model's architecture and weights, so partial statistics from different
 * models (or a retrained one) are never merged. FNV-1a over layer names, shapes and weight bytes.
 */
import type * as tf from '@tensorflow/tfjs';

export function modelFingerprint(model: tf.LayersModel): string {
  let h = 0x811c9dc5;
  const byte = (b: number) => {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  };
  const text = (s: string) => {
    for (let i = 0; i < s.length; i++) byte(s.charCodeAt(i) & 255);
  };
  for (const l of model.layers) {
    text(`${l.name}:${l.getClassName()}:${JSON.stringify(l.outputShape)};`);
    for (const w of l.getWeights()) {
      const bytes = new Uint8Array((w.dataSync() as Float32Array).slice().buffer);
      for (let i = 0; i < bytes.length; i++) byte(bytes[i]);
    }
  }
  return h.toString(16).padStart(8, '0');
}
