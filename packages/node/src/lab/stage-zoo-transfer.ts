/**
 * The zoo lab's transfer-learning section (`convlens lab --transfer [DATASET]`): the network the lab
 * just trained (on MNIST, by default) as the pretrained model, applied to another dataset (default
 * Fashion-MNIST: the lecture's "different domain" case), compared by transfer-compare.ts. Up to
 * transferSettings().images images, evenly spaced over the dataset's test split, are written as a class
 * folder in a scratch directory that is removed afterwards; the report keeps numbers only.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { modelFingerprint } from '@convlens/core/inspect/fingerprint';
import sharp from 'sharp';
import { DATASETS } from '../data/catalog.ts';
import { openDataset } from '../open/open-dataset.ts';
import { openModel } from '../open/open-model.ts';
import { spread } from './pretrained.ts';
import { compareTransfer, lastSpatialLayer, transferSettings } from './transfer-compare.ts';
import type { LabContext, StageResult } from './types.ts';

/** --transfer given without a dataset. */
export const DEFAULT_TRANSFER_DATASET = 'fashion-mnist';

export async function zooTransferStage(ctx: LabContext): Promise<StageResult> {
  const target = ctx.settings.transfer;
  if (!target)
    return {
      figures: [],
      numbers: { omitted: true },
      omitted:
        'Omitted: the lab trained this model itself. `convlens lab --transfer` reuses it on another dataset (default fashion-mnist); `convlens lab --model SOURCE --dataset DIR` compares ways to reuse a pretrained one.',
    };
  const model = await openModel(ctx.runDir);
  const scratch = join(ctx.out, 'transfer-scratch');
  const images = join(scratch, 'images');
  await rm(scratch, { recursive: true, force: true });
  try {
    const data = await openDataset(target, model, {
      dataDir: ctx.dataDir,
      download: ctx.download,
      split: 'test',
    });
    if (!data.labelled) throw new Error(`--transfer ${target}: the images have no labels`);
    const S = transferSettings(!!ctx.settings.quick);
    const { set, indices } = await data.read(Uint32Array.from(spread(data.count, S.images)));
    // An IDX set carries the model's class names (digits); the folders get the dataset's own.
    const names = DATASETS[target]?.classNames ?? data.classNames;
    const px = set.height * set.width * set.channels;
    for (let j = 0; j < set.count; j++) {
      const cls = (names[set.labels[j]] ?? String(set.labels[j])).replace(/[/\\]/g, '_');
      await mkdir(join(images, cls), { recursive: true });
      const raw = Buffer.from(set.images.subarray(j * px, (j + 1) * px));
      await writeFile(
        join(images, cls, `${String(indices[j]).padStart(5, '0')}.png`),
        await sharp(raw, { raw: { width: set.width, height: set.height, channels: set.channels as 1 | 3 } })
          .png()
          .toBuffer(),
      );
    }
    const result = await compareTransfer(ctx, {
      model,
      source: resolve(ctx.runDir, 'model', 'model.json'),
      fingerprint: modelFingerprint(model.model),
      preprocessText: model.preprocess.preset ?? '',
      layer: lastSpatialLayer(model.model),
      images,
      scratch,
      datasetName: `${data.description} (the network was trained on ${ctx.settings.dataset})`,
      fineTuneAll: true,
      // The same data the network was trained on is the similar-domain case; anything else is not.
      similarDomain: target === ctx.settings.dataset,
      // A small net's pooled features are small numbers: 10 steps at 1e-3 leave its new head at chance
      // (measured: 30 epochs at 1e-2 still 17% train accuracy on 64 Fashion-MNIST images). Epochs of a
      // 28-px net cost about a second each, so the head and fine-tuning get more of them.
      settings: { headEpochs: 100, lr: 5e-2, fineTuneEpochs: 5 },
    });
    return { ...result, numbers: { ...result.numbers, dataset: target } };
  } finally {
    model.dispose();
    await rm(scratch, { recursive: true, force: true });
  }
}
