/**
 * Gradients that do not differentiate weights nobody asked for. tfjs's fused conv ops (what
 * tfjs-layers' Conv2D runs) have a custom gradient that computes dx, dW and dBias at once, so a
 * saliency, integrated-gradients or Grad-CAM pass ran a filter-gradient kernel per conv layer for
 * nothing: the engine then drops dW, as the filter is not on a path from the differentiated tensors.
 *
 * Installed once on tfjs's engine (initBackend does it, on every backend): each gradients() call
 * (tf.grad, tf.grads, variableGrads, optimizers) notes which tensors its xs reach in the forward
 * pass; while a custom gradient runs for an op whose filter (its second input, in every fused op) is
 * not reached, filter-gradient kernels return zeros instead of running. Training differentiates the
 * weight variables themselves, so their filters are reached and dW is computed as before.
 */
import * as tf from '@tensorflow/tfjs';

/** Kernels that compute the gradient of a convolution's filter (the only output they have). */
export const FILTER_GRAD_KERNELS: ReadonlySet<string> = new Set([
  tf.Conv2DBackpropFilter,
  tf.DepthwiseConv2dNativeBackpropFilter,
]);

interface TapeNode {
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
}
interface EngineInternals {
  state: { activeTape: TapeNode[] | null };
  gradients: (f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor, allowNoGradients?: boolean) => unknown;
  customGrad: (f: (...args: any[]) => { value: tf.Tensor; gradFunc: (dy: any, saved: any) => any }) => any;
  runKernel: (name: string, inputs: unknown, attrs?: any) => tf.Tensor | tf.Tensor[];
}

let installed = false;
let enabled = true;
/** Ids of the tensors the current gradients() call's xs reach (null outside a backward pass). */
let reached: Set<number> | null = null;
/** > 0 while a custom gradient runs whose filter gradient nobody reads. */
let skipping = 0;
let skipped = 0;
/** Ids of the xs of every gradients() call in progress (nested calls add theirs). */
const sources: Set<number>[] = [];

/**
 * Whether a gradients() call in progress differentiates with respect to this tensor (a weight
 * variable, in training and in variableGrads): the folded inference layers then keep the layers'
 * own ops, so those gradients exist.
 */
export function isGradientSource(t: tf.Tensor): boolean {
  return sources.some((ids) => ids.has(t.id));
}

/** Tensors reachable from xs through the tape: what tfjs's own pruning (getFilteredNodesXToY) keeps. */
function reachableFrom(tape: TapeNode[] | null, xs: tf.Tensor[]): Set<number> {
  const ids = new Set(xs.map((x) => x.id));
  for (const node of tape ?? []) {
    if (Object.values(node.inputs).some((t) => t && ids.has(t.id))) {
      for (const o of node.outputs) if (o) ids.add(o.id);
    }
  }
  return ids;
}

/** Installs the hooks on tfjs's engine (idempotent). */
export function installInputOnlyGradients(): void {
  if (installed) return;
  installed = true;
  const engine = tf.engine() as unknown as EngineInternals;

  const gradients = engine.gradients.bind(engine);
  engine.gradients = (f, xs, dy, allowNoGradients) => {
    const outer = reached;
    sources.push(new Set(xs.map((x) => x.id)));
    try {
      return gradients(
        () => {
          const y = f();
          reached = reachableFrom(engine.state.activeTape, xs);
          return y;
        },
        xs,
        dy,
        allowNoGradients,
      );
    } finally {
      reached = outer;
      sources.pop();
    }
  };

  const customGrad = engine.customGrad.bind(engine);
  engine.customGrad = (f) =>
    customGrad((...args: any[]) => {
      const res = f(...args);
      // args: the op's input tensors, then `save`; a fused op's filter (or matmul's b) is the second.
      const filter = args.length > 2 ? (args[1] as tf.Tensor) : null;
      return {
        value: res.value,
        gradFunc: (dy: any, saved: any) => {
          const skip = enabled && filter != null && reached != null && !reached.has(filter.id);
          if (!skip) return res.gradFunc(dy, saved);
          skipping++;
          try {
            return res.gradFunc(dy, saved);
          } finally {
            skipping--;
          }
        },
      };
    });

  const runKernel = engine.runKernel.bind(engine);
  engine.runKernel = (name, inputs, attrs) => {
    if (skipping > 0 && FILTER_GRAD_KERNELS.has(name) && attrs?.filterShape) {
      skipped++;
      // Never read: the engine discards gradients of tensors off the xs → y path. Filled in the
      // backend (tf.fill), not built in JS and copied over as tf.zeros does (MobileNet's 1 MB head).
      return tf.fill(attrs.filterShape as number[], 0);
    }
    return runKernel(name, inputs, attrs);
  };
}

/** Whether the hooks are installed (initBackend installs them). */
export function inputOnlyGradientsInstalled(): boolean {
  return installed;
}

/** Turns the skipping off (tests compare against tfjs's own gradients); returns the previous setting. */
export function setInputOnlyGradients(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

/** How many filter-gradient kernel calls were skipped so far in this process. */
export function skippedFilterGradients(): number {
  return skipped;
}
