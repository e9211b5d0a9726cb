/**
 * Values kept in the backend's memory across calls without being a live tensor: each use wraps them
 * in a fresh tensor that the caller disposes as usual. A cache of derived weights (the folded conv
 * weights of models/folded-conv.ts) then costs no upload per call, yet leaves tf.memory().numTensors
 * where it was after every call, the first included. The backend data carries one reference of its
 * own (taken at write) that free() gives back; a finalizer gives it back if the owner is dropped.
 */
import * as tf from '@tensorflow/tfjs';

interface BackendData {
  write(values: Float32Array, shape: number[], dtype: 'float32'): object;
  incRef(dataId: object): void;
  disposeData(dataId: object, force?: boolean): boolean;
}
interface EngineData {
  makeTensorFromDataId(dataId: object, shape: number[], dtype: 'float32', backend: unknown): tf.Tensor;
  removeDataId(dataId: object, backend: unknown): void;
}

const engine = () => tf.engine() as unknown as EngineData;

function release(held: { backend: BackendData; dataId: object }): void {
  held.backend.disposeData(held.dataId, true);
  engine().removeDataId(held.dataId, held.backend);
}

const finalizer = new FinalizationRegistry(release);

export class ResidentTensor {
  private held: { backend: BackendData; dataId: object } | null = null;

  constructor(
    private readonly values: Float32Array,
    readonly shape: number[],
  ) {}

  /** A tensor of the values (dispose it as any other); written to the current backend on first use. */
  tensor(): tf.Tensor {
    const backend = tf.backend() as unknown as BackendData;
    if (this.held && this.held.backend !== backend) this.free();
    if (!this.held) {
      this.held = { backend, dataId: backend.write(this.values, this.shape, 'float32') };
      finalizer.register(this, this.held, this);
    }
    // The tensor's own reference; disposing it leaves the one held here.
    backend.incRef(this.held.dataId);
    return engine().makeTensorFromDataId(this.held.dataId, this.shape, 'float32', backend);
  }

  /** Frees the backend memory (idempotent); a later tensor() writes it again. */
  free(): void {
    if (!this.held) return;
    finalizer.unregister(this);
    release(this.held);
    this.held = null;
  }
}
