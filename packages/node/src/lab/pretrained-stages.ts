/**
 * The lab's stages on a pretrained model and their cache keys: every key holds the model's identity
 * (fingerprint, preprocessing, class names) and the dataset's listing, plus the stage's own settings.
 */
import { explainMethods } from '@convlens/core/methods/explain/registry';
import { trainOmitted } from './report-html.ts';
import { type LabSettings, stageKey } from './settings.ts';
import { methodsStageKey, ptMethodsStage } from './stage-methods.ts';
import { ptDataStage } from './stage-pt-data.ts';
import { ptExplainStage } from './stage-pt-explain.ts';
import { depthLayers, ptFeatureMapStage } from './stage-pt-feature-map.ts';
import { ptInsideStage } from './stage-pt-inside.ts';
import { ptMaximizeStage } from './stage-pt-maximize.ts';
import { ptTestStage } from './stage-pt-test.ts';
import { ptTransferStage, transferSettings } from './stage-pt-transfer.ts';
import type { LabContext, StageResult } from './types.ts';

export function pretrainedStageKeys(s: LabSettings): Record<string, string> {
  const p = s.pretrained!;
  const base = [p.fingerprint, p.preprocess, p.classNames, p.dataset.listing, p.limit ?? null, s.seed];
  const gradcam = explainMethods().some((m) => m.id === 'gradcam');
  return {
    data: stageKey('pt-data', base),
    train: stageKey('pt-train', [p.source, p.kind]),
    test: stageKey('pt-test', [base, gradcam]),
    part1: stageKey('pt-part1', [
      base,
      p.layers,
      p.filterLayers,
      p.fmapImages,
      p.statsImages,
      p.topK,
      p.maxChannels,
    ]),
    part2: stageKey('pt-part2', [
      base,
      p.classes,
      p.actmaxSteps,
      p.unitSteps,
      p.filtersPerLayer,
      p.unitLayers,
    ]),
    part3: stageKey('pt-part3', [
      base,
      p.explainImages,
      explainMethods().map((m) => m.id),
      p.faithfulnessImages,
      p.faithfulnessSteps,
      p.samplingSamples,
      p.sanityImages,
    ]),
    methods: methodsStageKey([base, s.quick]),
    featuremap: stageKey('pt-featuremap', [base, depthLayers(p.layers), p.big]),
    transfer: stageKey('pt-transfer', [
      base,
      p.source,
      p.layers.at(-1),
      transferSettings(!!s.quick),
      'last-block',
    ]),
  };
}

async function ptTrainStage(ctx: LabContext): Promise<StageResult> {
  const p = ctx.settings.pretrained!;
  const omitted = trainOmitted(p.source, p.kind);
  return { figures: [], numbers: { omitted: true, reason: omitted }, omitted };
}

export const PRETRAINED_STAGES: Record<string, (ctx: LabContext) => Promise<StageResult>> = {
  data: ptDataStage,
  train: ptTrainStage,
  test: ptTestStage,
  part1: ptInsideStage,
  part2: ptMaximizeStage,
  part3: ptExplainStage,
  methods: ptMethodsStage,
  featuremap: ptFeatureMapStage,
  transfer: ptTransferStage,
};
