/**
 * Test fixture: a TensorFlow.js graph model (GraphDef JSON + weight shard, as tensorflowjs_converter
 * writes them) of a small CNN, built node by node from a layers model's weights so the two must
 * predict the same: Placeholder → Conv2D → BiasAdd → Relu → MaxPool → Reshape → MatMul → BiasAdd → Softmax.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tf } from '@convlens/core/engine/backend';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const ints = (xs: number[]) => ({ list: { i: xs.map(String) } });
const dims = (xs: number[]) => ({ dim: xs.map((d) => ({ size: String(d) })) });
const F32 = { type: 'DT_FLOAT' };

/** conv(4, 3×3 valid, relu) → maxpool 2 → flatten → dense(3) softmax on [H, W, C] inputs. */
export function smallLayersModel(inputShape: [number, number, number]): tf.LayersModel {
  const m = tf.sequential({ name: 'small' });
  m.add(
    tf.layers.conv2d({
      inputShape,
      filters: 4,
      kernelSize: 3,
      activation: 'relu',
      name: 'conv',
      biasInitializer: 'glorotUniform',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }),
    }),
  );
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }));
  m.add(tf.layers.flatten({ name: 'flat' }));
  m.add(
    tf.layers.dense({
      units: 3,
      activation: 'softmax',
      name: 'dense',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 6 }),
      biasInitializer: 'glorotUniform',
    }),
  );
  return m;
}

/** Writes `model` (from smallLayersModel) as a graph model in `dir`: model.json + group1-shard1of1.bin. */
export async function writeGraphModel(model: tf.LayersModel, dir: string): Promise<void> {
  const [, h, w, c] = model.inputs[0].shape as number[];
  const [k, bias] = model.getLayer('conv').getWeights();
  const [dk, db] = model.getLayer('dense').getWeights();
  const flat = (model.getLayer('flat').outputShape as number[])[1];
  const consts: { name: string; t: tf.Tensor }[] = [
    { name: 'conv/kernel', t: k },
    { name: 'conv/bias', t: bias },
    { name: 'flat/shape', t: tf.tensor1d([-1, flat], 'int32') },
    { name: 'dense/kernel', t: dk },
    { name: 'dense/bias', t: db },
  ];
  const constNode = (name: string, t: tf.Tensor) => ({
    name,
    op: 'Const',
    attr: {
      dtype: { type: t.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT' },
      value: { tensor: { dtype: t.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT', tensorShape: dims(t.shape) } },
    },
  });
  const nodes = [
    { name: 'image', op: 'Placeholder', attr: { dtype: F32, shape: { shape: dims([-1, h, w, c]) } } },
    ...consts.map((x) => constNode(x.name, x.t)),
    {
      name: 'conv/Conv2D',
      op: 'Conv2D',
      input: ['image', 'conv/kernel'],
      attr: {
        T: F32,
        strides: ints([1, 1, 1, 1]),
        dilations: ints([1, 1, 1, 1]),
        padding: { s: b64('VALID') },
        data_format: { s: b64('NHWC') },
      },
    },
    {
      name: 'conv/BiasAdd',
      op: 'BiasAdd',
      input: ['conv/Conv2D', 'conv/bias'],
      attr: { T: F32, data_format: { s: b64('NHWC') } },
    },
    { name: 'conv/Relu', op: 'Relu', input: ['conv/BiasAdd'], attr: { T: F32 } },
    {
      name: 'pool/MaxPool',
      op: 'MaxPool',
      input: ['conv/Relu'],
      attr: {
        T: F32,
        ksize: ints([1, 2, 2, 1]),
        strides: ints([1, 2, 2, 1]),
        padding: { s: b64('VALID') },
        data_format: { s: b64('NHWC') },
      },
    },
    { name: 'flat/Reshape', op: 'Reshape', input: ['pool/MaxPool', 'flat/shape'], attr: { T: F32 } },
    {
      name: 'dense/MatMul',
      op: 'MatMul',
      input: ['flat/Reshape', 'dense/kernel'],
      attr: { T: F32, transpose_a: { b: false }, transpose_b: { b: false } },
    },
    {
      name: 'dense/BiasAdd',
      op: 'BiasAdd',
      input: ['dense/MatMul', 'dense/bias'],
      attr: { T: F32, data_format: { s: b64('NHWC') } },
    },
    { name: 'Identity', op: 'Softmax', input: ['dense/BiasAdd'], attr: { T: F32 } },
  ];
  const { data, specs } = await tf.io.encodeWeights(consts.map((x) => ({ name: x.name, tensor: x.t })));
  const json = {
    format: 'graph-model',
    generatedBy: '2.15.0',
    convertedBy: 'convlens test fixture (GraphDef JSON as tensorflowjs_converter writes it)',
    modelTopology: { node: nodes, library: {}, versions: { producer: 1286 } },
    weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: specs }],
  };
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.json'), JSON.stringify(json));
  await writeFile(join(dir, 'group1-shard1of1.bin'), Buffer.from(data as ArrayBuffer));
  consts[2].t.dispose(); // the others are the layers' own variables
}
