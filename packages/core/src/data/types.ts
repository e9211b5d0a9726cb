/** Class indices: bytes for up to 256 classes, 16-bit beyond. */
export type LabelArray = Uint8Array | Uint16Array;

/**
 * A labelled image set held as raw bytes (as IDX stores it): N×H×W×C, uint8, row-major, NHWC.
 * Batches are converted to float tensors on demand so a dataset never lives in memory as float32.
 */
export interface ImageSet {
  /** N*H*W*C pixel bytes, NHWC order. */
  images: Uint8Array;
  /** N class indices (16-bit when there are more than 256 classes, e.g. ImageNet). */
  labels: LabelArray;
  /** False for an unlabelled image folder (labels are then all 0 and mean nothing). */
  labelled?: boolean;
  count: number;
  height: number;
  width: number;
  channels: number;
  /** Number of classes (max label + 1, or the dataset's declared class count). */
  numClasses: number;
  /** Optional human-readable class names, index = label. */
  classNames?: string[];
}

/** Where a dataset split came from, recorded in histories and reports. */
export interface DataProvenance {
  dataset: string;
  /** Directory the files were read from. */
  source: string;
  /** 'standard' when the dataset's own train/test split is used; 'from-test' when only the test split existed and was split (seeded, stratified). */
  split: 'standard' | 'from-test';
  note?: string;
}
