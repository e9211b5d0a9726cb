/** The receptive-field job: size, jump (stride) and start offset of every layer, from the layer geometry. */
import { type LayerField, receptiveFields } from '@convlens/core/inspect/receptive-field';
import type { OpenedModel } from '../open/open-model.ts';
import { layersModel } from './layer-choice.ts';

export interface ReceptiveFieldResult {
  model: string;
  source: string;
  inputShape: number[];
  layers: LayerField[];
}

export async function receptiveFieldCommand(o: { model: OpenedModel }): Promise<ReceptiveFieldResult> {
  const model = layersModel(o.model);
  return {
    model: model.name,
    source: o.model.source,
    inputShape: o.model.inputShape,
    layers: receptiveFields(model),
  };
}
