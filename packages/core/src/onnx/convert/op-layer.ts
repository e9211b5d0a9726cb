/**
 * The one custom layer ONNX ops without a Keras layer become: it runs a registered tfjs function
 * (by name) on its inputs and constant weights. Its config holds the function's name and plain-JSON
 * parameters, so a converted model saves and reloads like any layers model (the function registry
 * must be loaded, which importing this module's converter does); it is differentiable because the
 * functions are ordinary tfjs ops.
 */
import * as tf from '@tensorflow/tfjs';

export type OpParams = Record<string, unknown>;
/** Computes an op's outputs from its inputs (symbolic inputs first, then constant weights). */
export type OpFn = (inputs: tf.Tensor[], params: OpParams) => tf.Tensor | tf.Tensor[];

const fns = new Map<string, OpFn>();

/** Registers a tfjs function under a name that OnnxOpLayer configs refer to. */
export function registerOpFn(name: string, fn: OpFn): void {
  fns.set(name, fn);
}

export function getOpFn(name: string): OpFn {
  const fn = fns.get(name);
  if (!fn) throw new Error(`ONNX op function '${name}' is not registered`);
  return fn;
}

export interface OpWeight {
  shape: number[];
  dtype: 'float32' | 'int32';
  values: number[];
}

export interface OnnxOpLayerArgs {
  name: string;
  fn: string;
  params: OpParams;
  /** Output shapes in tfjs layout, batch as null where it follows the input's batch. */
  outShapes: (number | null)[][];
  /** Constant inputs, appended after the symbolic inputs. Values are dropped from the saved config. */
  weights?: OpWeight[];
  trainable?: boolean;
  /** Argument order for the function: indices into [...symbolic inputs, ...weights]. */
  slots?: number[];
}

export class OnnxOpLayer extends tf.layers.Layer {
  static className = 'OnnxOp';
  readonly fn: string;
  readonly params: OpParams;
  readonly outShapes: (number | null)[][];
  readonly slots: number[] | undefined;
  private readonly weightSpecs: OpWeight[];
  private consts: tf.LayerVariable[] = [];

  constructor(args: OnnxOpLayerArgs) {
    super({ name: args.name, trainable: args.trainable ?? false });
    this.fn = args.fn;
    this.params = args.params;
    this.outShapes = args.outShapes;
    this.weightSpecs = args.weights ?? [];
    this.slots = args.slots;
    getOpFn(this.fn);
  }

  override build(): void {
    this.consts = this.weightSpecs.map((w, i) =>
      this.addWeight(
        `const${i}`,
        w.shape,
        w.dtype,
        w.values.length
          ? // tfjs only calls an initializer's apply(): a plain object holding the values will do.
            ({ apply: () => tf.tensor(w.values, w.shape, w.dtype) } as unknown as ReturnType<
              typeof tf.initializers.zeros
            >)
          : tf.initializers.zeros(),
        undefined,
        this.trainable && w.dtype === 'float32',
      ),
    );
    this.built = true;
  }

  override computeOutputShape(): tf.Shape | tf.Shape[] {
    return this.outShapes.length === 1 ? this.outShapes[0] : this.outShapes;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor | tf.Tensor[] {
    const xs = Array.isArray(inputs) ? inputs : [inputs];
    const all = [...xs, ...this.consts.map((c) => c.read())];
    const args = this.slots ? this.slots.map((s) => all[s]) : all;
    return tf.tidy(() => getOpFn(this.fn)(args, this.params));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      fn: this.fn,
      params: this.params as tf.serialization.ConfigDictValue,
      outShapes: this.outShapes,
      slots: this.slots ?? null,
      // Shapes only: the values travel in the weights file.
      weights: this.weightSpecs.map((w) => ({ shape: w.shape, dtype: w.dtype, values: [] })),
    } as tf.serialization.ConfigDict;
  }

  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    const c = { ...config, slots: config.slots ?? undefined };
    return new cls(c as never);
  }
}
tf.serialization.registerClass(OnnxOpLayer);
