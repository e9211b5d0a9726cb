/**
 * One input image for single-image jobs (activations, explanations): an image file read with the model's
 * resize policy, or image N of an opened dataset; both become the model's bytes, then its input through
 * the model's own preprocessing (core data/batches.ts), exactly as dataset-wide jobs see them.
 */
import { batchIterator } from '@convlens/core/data/batches';
import type { ImageSet } from '@convlens/core/data/types';
import { readImage } from '../io/png.ts';
import type { OpenedDataset } from '../open/open-dataset.ts';
import type { OpenedModel } from '../open/open-model.ts';

export interface ModelInput {
  /** Model input: H·W·C floats, preprocessed as the model expects. */
  x: Float32Array;
  /** The same image as bytes at the model's size, for drawing. */
  bytes: Uint8Array;
  /** Model class index, when the dataset is labelled. */
  label?: number;
  /** File path, or e.g. "mnist test split image 12". */
  source: string;
}

export type InputSpec = { image: string } | { dataset: OpenedDataset; index: number };

export async function readModelInput(
  model: OpenedModel,
  spec: InputSpec,
  log: (s: string) => void = () => {},
): Promise<ModelInput> {
  const [h, w, c] = model.inputShape;
  let bytes: Uint8Array;
  let label: number | undefined;
  let source: string;
  if ('image' in spec) {
    const img = await readImage(spec.image, {
      width: w,
      height: h,
      channels: c as 1 | 3,
      resize: model.preprocess.resize,
    });
    const o = img.original;
    // Alpha is dropped silently; a change of size or colour channels is worth a notice.
    const colour = o.channels >= 3 ? 3 : 1;
    if (o.width !== w || o.height !== h || colour !== c) {
      const how =
        o.width === w && o.height === h
          ? ''
          : model.preprocess.resize === 'crop'
            ? ' (shorter side, centre crop)'
            : ' (stretched)';
      log(
        `notice: ${spec.image} is ${o.width}×${o.height}×${colour}; resized/converted to ${w}×${h}×${c} as the model expects${how}`,
      );
    }
    bytes = Uint8Array.from(img.pixels, (v) => Math.round(v * 255));
    source = spec.image;
  } else {
    const { dataset: d, index } = spec;
    if (!(Number.isInteger(index) && index >= 0 && index < d.count))
      throw new Error(
        `--index ${index} is out of range: ${d.name} has ${d.count} ${d.kind === 'idx' ? 'test ' : ''}images (0–${d.count - 1})`,
      );
    const chunk = await d.read([index]);
    if (chunk.set.count === 0) throw new Error(`${d.source(index)}: unreadable image`);
    bytes = chunk.set.images;
    if (d.labelled) label = chunk.set.labels[0];
    source = d.source(index);
  }
  const set: ImageSet = {
    images: bytes,
    labels: new Uint8Array(1),
    count: 1,
    height: h,
    width: w,
    channels: c,
    numClasses: model.numClasses,
  };
  const x = batchIterator(set, undefined, 1, { preprocess: model.preprocess }).next().value!.x;
  return { x, bytes, label, source };
}
