/** Cutting a pretrained model: the frozen feature extractor is everything up to and including a named layer. */
import { tf } from '@convlens/core/engine/backend';

export function cutAt(base: tf.LayersModel, layerName: string): tf.LayersModel {
  let layer: tf.layers.Layer;
  try {
    layer = base.getLayer(layerName);
  } catch {
    const names = base.layers.map((l) => l.name);
    throw new Error(
      `--freeze-until: no layer '${layerName}' in the base model (layers: ${names.slice(0, 6).join(', ')}, …, ${names.slice(-4).join(', ')})`,
    );
  }
  const extractor = tf.model({
    inputs: base.inputs,
    outputs: layer.output as tf.SymbolicTensor,
    name: 'frozen',
  });
  extractor.trainable = false;
  return extractor;
}

export type HeadSpec = { kind: 'gap' } | { kind: 'dense'; units: number };

export function parseHead(spec: string): HeadSpec {
  if (spec === 'gap') return { kind: 'gap' };
  const m = /^dense:(\d+)$/.exec(spec);
  if (m && +m[1] > 0) return { kind: 'dense', units: +m[1] };
  throw new Error(`--head: '${spec}' is not gap or dense:N`);
}

/**
 * The new classifier on the frozen features: gap = global average pooling + softmax (MobileNet style);
 * dense:N = flatten + dense N relu + softmax (the lecture's VGG16 head).
 */
export function buildHead(
  featureShape: number[],
  head: HeadSpec,
  classes: number,
  seed: number,
): tf.Sequential {
  const m = tf.sequential({ name: 'head' });
  const spatial = featureShape.length === 3;
  if (head.kind === 'gap') {
    if (spatial) m.add(tf.layers.globalAveragePooling2d({ inputShape: featureShape, name: 'head_gap' }));
    else m.add(tf.layers.flatten({ inputShape: featureShape, name: 'head_flat' }));
  } else {
    m.add(tf.layers.flatten({ inputShape: featureShape, name: 'head_flat' }));
    m.add(
      tf.layers.dense({
        units: head.units,
        activation: 'relu',
        name: 'head_dense',
        kernelInitializer: tf.initializers.heNormal({ seed }),
      }),
    );
  }
  m.add(
    tf.layers.dense({
      units: classes,
      activation: 'softmax',
      name: 'head_out',
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }),
    }),
  );
  return m;
}
