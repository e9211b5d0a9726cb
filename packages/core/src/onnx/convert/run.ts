/**
 * Runs an ONNX graph through the converter on tensors in the file's layout: converts (with the
 * inputs' own dims), moves inputs into the model's layouts and outputs back, disposes everything.
 * The conformance tests and the PyTorch comparison use it.
 */
import * as tf from '@tensorflow/tfjs';
import type { OnnxGraph, OnnxTensor } from '../graph.ts';
import { convertOnnx } from './convert.ts';
import { constTensor, tensorToConst } from './values.ts';

export async function runOnnxGraph(graph: OnnxGraph, inputs: OnnxTensor[]): Promise<OnnxTensor[]> {
  // Shapes come from the given tensors, so symbolic dims and the batch are those of the data.
  const g: OnnxGraph = {
    ...graph,
    inputs: graph.inputs.map((info, i) => ({ ...info, shape: inputs[i]?.dims ?? info.shape })),
  };
  const conv = convertOnnx(g);
  const xs = inputs.map((t, i) => constTensor(t, conv.inputPerms[i]));
  try {
    // apply(), not predict(): predict expands 1-D inputs to 2-D (Keras's habit).
    const ys = conv.model.apply(xs.length === 1 ? xs[0] : xs, { training: false }) as tf.Tensor | tf.Tensor[];
    const all = Array.isArray(ys) ? ys : [ys];
    const list = all.slice(0, conv.outputPerms.length);
    const out: OnnxTensor[] = [];
    let k = 0;
    graph.outputs.forEach((info, i) => {
      const c = conv.constOutputs.get(i);
      if (c) out.push({ ...c.tensor, name: info.name });
      else {
        out.push(tensorToConst(list[k], conv.outputPerms[k], info.name, info.type));
        k++;
      }
    });
    tf.dispose(all);
    return out;
  } finally {
    tf.dispose(xs);
    conv.model.dispose();
  }
}
