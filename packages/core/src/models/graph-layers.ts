/**
 * TensorFlow.js graph models (converted SavedModels / frozen graphs) seen as layers models: one layer
 * that executes the graph. Everything convlens does through `model.apply` / `predict` — predictions,
 * input gradients (saliency, SmoothGrad, integrated gradients, guided methods fall back to plain
 * gradients), occlusion, LIME, KernelSHAP, class act-max — then works unchanged, since the graph's
 * ops are ordinary tfjs ops recorded on the gradient tape. A graph has no layers to pick, so
 * layer-based methods (CAM family, DeconvNet, feature maps) report that there is no spatial layer.
 */
import * as tf from '@tensorflow/tfjs';

const CLASS_NAME = 'ConvlensGraphModel';

class GraphModelLayer extends tf.layers.Layer {
  static className = CLASS_NAME;
  readonly graph: tf.GraphModel;
  private readonly outShape: number[];

  constructor(graph: tf.GraphModel, inputShape: number[], outShape: number[], name: string) {
    super({ name, batchInputShape: [null, ...inputShape], trainable: false });
    this.graph = graph;
    this.outShape = outShape;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [s[0], ...this.outShape];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return this.graph.execute(x) as tf.Tensor;
  }

  override getConfig(): tf.serialization.ConfigDict {
    // Not serializable as layers: convlens saves graph models as the graph's own files.
    return { ...super.getConfig(), graph: 'not serializable' };
  }
}

const shapeOf = (info: tf.ModelTensorInfo | undefined, what: string, source: string) => {
  const s = info?.shape;
  if (!s || s.length < 2) throw new Error(`${source}: the graph's ${what} has no known shape`);
  return s;
};

/**
 * Wraps a loaded graph model with one image input [N, H, W, C] and one output [N, classes] (or any
 * fixed trailing shape). `source` names the model in errors.
 */
export function graphAsLayersModel(graph: tf.GraphModel, source = 'graph model'): tf.LayersModel {
  if (graph.inputs.length !== 1 || graph.outputs.length !== 1)
    throw new Error(
      `${source}: graph models with ${graph.inputs.length} inputs and ${graph.outputs.length} outputs are not supported (need 1 and 1)`,
    );
  const input = shapeOf(graph.inputs[0], 'input', source).slice(1);
  if (input.some((d) => !(d > 0)))
    throw new Error(
      `${source}: the graph's input shape [${input}] has unknown sizes: convlens needs a fixed input size`,
    );
  // Converters often leave output shapes out: run the graph once on zeros to learn it.
  const output = tf.tidy(() => {
    const y = graph.execute(tf.zeros([1, ...input], graph.inputs[0].dtype as tf.DataType));
    return (Array.isArray(y) ? y[0] : y).shape.slice(1);
  });
  const layer = new GraphModelLayer(graph, input, output, 'graph');
  const model = tf.sequential({ name: 'graph_model', layers: [layer] });
  return model;
}

/** The graph model a layers model wraps (graphAsLayersModel), if it is one. */
export function wrappedGraph(model: tf.LayersModel): tf.GraphModel | undefined {
  const l = model.layers[0] as unknown;
  return model.layers.length === 1 && l instanceof GraphModelLayer ? l.graph : undefined;
}
