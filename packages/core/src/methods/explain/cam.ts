/**
 * CAM (Zhou et al.) on a network whose head is global average pooling + one dense layer: the map is
 * read off the dense weights, no gradient involved. Other models get an error naming their last
 * layers; `convlens cam-head` (models/cam-head.ts) builds such a network from a trained one.
 */
import { type CamMapOptions, camMaps } from '../../models/cam-head.ts';
import { finish, resolveTargets } from './common.ts';
import type { ExplainMethod } from './types.ts';

export const cam: ExplainMethod<CamMapOptions> = {
  id: 'cam',
  title: 'CAM',
  description:
    'Class activation map of a GAP + dense network: the last conv features weighted by the dense layer’s weights for the class. Exact for this architecture (Grad-CAM reduces to it); needs a model built with `convlens cam-head`.',
  needsLayer: false,
  async explain(req) {
    const targets = resolveTargets(req.model, req);
    const r = camMaps(req.model, req.input, targets, req.options);
    try {
      const s = r.layerShape;
      return await finish('cam', r.maps, targets, !!req.options?.signed, {
        layer: r.layer,
        warnings: targets.map(() =>
          s[0] === 1 && s[1] === 1 ? [`layer '${r.layer}' is 1×1: its map is constant`] : [],
        ),
        meta: { layer: r.layer, layerShape: s, bias: !!req.options?.bias },
      });
    } finally {
      r.maps.dispose();
    }
  },
};
