/** One completed epoch, as written to history.json. */
export interface EpochRecord {
  /** 1-based: the number of epochs completed after this one. */
  epoch: number;
  /** Mean training loss/accuracy over the epoch's batches, in training mode (dropout on), as Keras reports. */
  loss: number;
  acc: number;
  /** Inference-mode loss/accuracy on the validation batches. */
  valLoss?: number;
  valAcc?: number;
  /** Wall time of the epoch: training plus validation. */
  seconds: number;
  /** Wall time of the training batches alone; imagesPerSecond = images / trainSeconds. */
  trainSeconds: number;
  imagesPerSecond: number;
  /** Training examples seen this epoch. */
  images: number;
  lr: number;
  /** Set on the epoch where early stopping fired (weights are not restored to the best epoch). */
  note?: string;
}

export interface EarlyStopping {
  /** Epochs without improvement before stopping (Keras's patience), >= 1. */
  patience: number;
  /** Smallest decrease of validation loss that counts as an improvement; default 0. */
  minDelta?: number;
}

/**
 * Why training ended. In history.json also: 'running' (written after a non-final epoch: a run killed
 * then still says so) and 'failed' (an error such as a non-finite loss; see History.error).
 */
export type StopReason = 'completed' | 'early-stopping' | 'interrupted' | 'running' | 'failed';

export interface History {
  /** Every completed epoch, earlier runs' (resume) included. */
  records: EpochRecord[];
  /** Target epoch count and the epochs already done when this call started. */
  epochs: number;
  startEpoch: number;
  stopReason: StopReason;
  /** Whether the loss was computed from pre-softmax logits (convlens models) or from probabilities. */
  lossFrom: 'logits' | 'probs';
  earlyStopping?: Required<EarlyStopping>;
  /** Epoch with the lowest validation loss so far (by the minDelta rule when early stopping is on). */
  bestEpoch?: number;
  bestValLoss?: number;
  /** Where Ctrl-C stopped: that epoch's partial progress has no record. */
  interrupted?: { epoch: number; batches: number; images: number };
  /** The error that ended a 'failed' run, in one line. */
  error?: string;
}

/** Early stopping's state (Keras's EarlyStopping on val_loss, mode min). */
export interface EarlyStoppingTracker {
  bestEpoch?: number;
  bestValLoss?: number;
  /** Epochs since the last improvement. */
  wait: number;
  update(record: EpochRecord): void;
}

/**
 * A tracker fed with earlier records, so a resumed run continues the same patience count. Without
 * early stopping it still tracks the best epoch (minDelta 0).
 */
export function replayEarlyStopping(records: EpochRecord[], options?: EarlyStopping): EarlyStoppingTracker {
  const minDelta = options?.minDelta ?? 0;
  const t: EarlyStoppingTracker = {
    wait: 0,
    update(r) {
      if (r.valLoss === undefined || Number.isNaN(r.valLoss)) return;
      if (t.bestValLoss === undefined || r.valLoss < t.bestValLoss - minDelta) {
        t.bestValLoss = r.valLoss;
        t.bestEpoch = r.epoch;
        t.wait = 0;
      } else {
        t.wait++;
      }
    },
  };
  for (const r of records) t.update(r);
  return t;
}
