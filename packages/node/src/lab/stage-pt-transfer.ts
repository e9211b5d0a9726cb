/**
 * The transfer-learning section on a pretrained model: up to a few hundred of its class-folder images
 * hard-linked into a scratch folder (so every method sees the same files and the same seeded split),
 * compared by transfer-compare.ts; the scratch is removed, the report keeps numbers only. The zoo lab
 * runs the same comparison with --transfer (stage-zoo-transfer.ts).
 */
import { copyFile, link, mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { listImages } from '../open/image-files.ts';
import { spread } from './pretrained.ts';
import { compareTransfer, transferSettings } from './transfer-compare.ts';
import type { LabContext, StageResult } from './types.ts';

export { transferSettings };

export async function ptTransferStage(ctx: LabContext): Promise<StageResult> {
  const { model, settings: p, full } = ctx.pretrained!;
  const layer = p.layers.at(-1)!;
  if (full.kind !== 'image-folder' || !full.labelled)
    return {
      figures: [],
      numbers: { omitted: true },
      omitted:
        'Omitted: transfer learning needs labelled images in class folders (ROOT/<class>/<image>); give such a folder with --dataset.',
    };
  const root = resolve(full.name);
  const listing = await listImages(root);
  if (listing.layout !== 'class-folders' || listing.classNames.length < 2)
    return {
      figures: [],
      numbers: { omitted: true },
      omitted: 'Omitted: transfer learning needs at least two class folders (ROOT/<class>/<image>).',
    };

  // The same images for every method: up to S.images, evenly spaced (every class), linked.
  const scratch = join(ctx.out, 'transfer-scratch');
  const images = join(scratch, 'images');
  await rm(scratch, { recursive: true, force: true });
  const S = transferSettings(!!ctx.settings.quick);
  const chosen = spread(listing.files.length, S.images).map((i) => listing.files[i]);
  for (const f of chosen) {
    const cls = listing.classNames[f.label];
    await mkdir(join(images, cls), { recursive: true });
    // Hard links (the folder listers skip symlinks); a copy across file systems.
    const to = join(images, cls, f.path.split('/').pop()!);
    await link(resolve(f.path), to).catch(() => copyFile(f.path, to));
  }
  try {
    return await compareTransfer(ctx, {
      model,
      source: p.source,
      fingerprint: p.fingerprint,
      preprocessText: p.preprocess,
      layer,
      images,
      scratch,
      datasetName: full.name,
      // All layers end to end over 224-px images costs minutes: only without --quick.
      fineTuneAll: !ctx.settings.quick,
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
