/**
 * Default settings by kind of model. Small grey models (MNIST-size) keep keras-vis's pixel-space
 * recipe, which the lab's numbers are measured with. RGB models and inputs of 64 px or more get Lucid's
 * (Olah et al. 2017): a decorrelated Fourier parameterization and transformation robustness (jitter,
 * scale, rotation), without which an ImageNet model's maximization is high-frequency adversarial noise
 * that only the model it was made on believes.
 */
import type { OptimizerName } from '../../train/optimizers.ts';
import type { ParameterizationName } from './parameterization.ts';

export type ActmaxStyle = 'keras-vis' | 'lucid';
export const ACTMAX_STYLES: readonly ActmaxStyle[] = ['keras-vis', 'lucid'];

export interface StyleDefaults {
  steps: number;
  learningRate: number;
  optimizer: OptimizerName;
  tvWeight: number;
  lpWeight: number;
  /** Pixels when ≥ 1, a fraction of the size when < 1. */
  jitter: number;
  scale: number;
  rotate: number;
  blurEvery: number;
  blurSigma: number;
  parameterization: ParameterizationName;
  /** Fourier spectrum decay (1/f^decay). */
  decay: number;
  /** Start-noise amplitude (fraction of the range). */
  noise: number;
}

export const STYLE_DEFAULTS: Record<ActmaxStyle, StyleDefaults> = {
  'keras-vis': {
    steps: 256,
    learningRate: 0.05,
    optimizer: 'adam',
    tvWeight: 1,
    lpWeight: 0,
    jitter: 0,
    scale: 0,
    rotate: 0,
    blurEvery: 0,
    blurSigma: 0.5,
    parameterization: 'pixel',
    decay: 1,
    noise: 0.2,
  },
  // Lucid's render_vis: Adam 0.05 on the spectrum, a near-grey start, jitter 8 px at 224 (as a fraction,
  // so smaller inputs shift proportionally), scales 0.9–1.1, rotations ±10°. 256 steps, not Lucid's 512:
  // on MobileNet 0.75 the transfer to MobileNet 0.25 was no better at 256 than at 128 (images only
  // grew more saturated), and a CPU step at 224 px takes about a second. Stronger transforms (±16 px,
  // 0.8–1.2, ±15°) and decay 1.5 were tried: no better transfer, and 1.5 saturates the colours.
  lucid: {
    steps: 256,
    learningRate: 0.05,
    optimizer: 'adam',
    tvWeight: 0,
    lpWeight: 0,
    jitter: 0.04,
    scale: 0.1,
    rotate: 10,
    blurEvery: 0,
    blurSigma: 0.5,
    parameterization: 'fourier',
    decay: 1,
    noise: 0.02,
  },
};

/** Lucid for RGB models and inputs of 64 px or more; keras-vis for small grey ones. */
export function actmaxStyle([h, w, c]: [number, number, number]): ActmaxStyle {
  return c === 3 || Math.min(h, w) >= 64 ? 'lucid' : 'keras-vis';
}
