/**
 * The model's preprocessing as differentiable tensor operations, so activation maximization can optimize
 * [0, 1] pixels for any model (MobileNet's [-1, 1], Caffe's BGR minus the mean, a run's per-pixel
 * standardization) and the pixels it returns are a picture. The tensor twin of presets.applyPreprocess:
 * same operations in the same order (a test holds them equal).
 */
import * as tf from '@tensorflow/tfjs';
import { CAFFE_BGR_MEAN, type Preprocess, TORCH_MEAN, TORCH_STD } from '../../preprocess/presets.ts';

/** Pixels [B, H, W, C] in [0, 1] → model input; owns constant tensors: call dispose(). */
export interface ModelInput {
  apply(pixels: tf.Tensor4D): tf.Tensor4D;
  dispose(): void;
}

export function modelInput(p: Preprocess, [h, w, c]: [number, number, number]): ModelInput {
  const rgb = (name: string) => {
    if (c !== 3) throw new Error(`preset ${name} needs RGB input, got ${c} channel(s)`);
  };
  const owned: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(t: T): T => {
    owned.push(t);
    return t;
  };
  let apply: (x: tf.Tensor4D) => tf.Tensor4D;
  switch (p.preset) {
    case 'scale01':
      apply = (x) => x;
      break;
    case 'scale-1-1':
      apply = (x) => x.mul(2).sub(1);
      break;
    case 'range': {
      const r = p.range;
      if (!r || !(r[0] < r[1])) throw new Error('preset range needs range [low, high] with low < high');
      apply = (x) => x.mul(r[1] - r[0]).add(r[0]);
      break;
    }
    case 'caffe': {
      rgb('caffe');
      const mean = keep(tf.tensor1d(CAFFE_BGR_MEAN));
      apply = (x) => x.reverse(3).mul(255).sub(mean);
      break;
    }
    case 'torch': {
      rgb('torch');
      const mean = keep(tf.tensor1d(TORCH_MEAN));
      const std = keep(tf.tensor1d(TORCH_STD));
      apply = (x) => x.sub(mean).div(std);
      break;
    }
    case 'per-pixel': {
      const s = p.standardizer;
      if (!s) throw new Error('preset per-pixel needs the training statistics (standardizer)');
      if (s.mean.length !== h * w * c)
        throw new Error(`per-pixel statistics are for ${s.mean.length} values, the model reads ${h * w * c}`);
      const mean = keep(tf.tensor4d(Float32Array.from(s.mean), [1, h, w, c]));
      const std = keep(tf.tensor4d(Float32Array.from(s.std), [1, h, w, c]));
      apply = (x) => x.sub(mean).div(std);
      break;
    }
    default:
      throw new Error(`unknown preprocessing preset '${(p as Preprocess).preset}'`);
  }
  return {
    apply,
    dispose() {
      for (const t of owned) t.dispose();
    },
  };
}
