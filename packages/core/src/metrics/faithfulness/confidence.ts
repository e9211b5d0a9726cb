/**
 * Average drop and increase in confidence (Chattopadhay et al., 2018, Grad-CAM++; pytorch-grad-cam's
 * DropInConfidence / IncreaseInConfidence): show the model only what the map highlights, the input
 * blended towards the fill by the map scaled to [0, 1] (negative evidence hides the pixel), and compare
 * the target score O with the original Y. Drop: max(0, Y − O)/Y in percent, lower is better. Increase:
 * 1 when O > Y, higher is better.
 */
import { dims, needModel, pixelsOf, resultOf, type ScoreKind, ScoreQueue } from '../common.ts';
import type { Metric, MetricContext } from '../types.ts';

/** Target scores on the original and on the map-masked inputs. */
async function maskedScores(ctx: MetricContext, id: string, score?: ScoreKind) {
  const { N, H, W, C } = dims(ctx, id);
  const model = needModel(ctx, id);
  const fill = ctx.fill ?? 0;
  const x = await pixelsOf(ctx.input);
  const size = H * W * C;
  const queue = new ScoreQueue(model, [H, W, C], { batch: ctx.batch, score });
  for (let i = 0; i < N; i++) {
    const img = x.subarray(i * size, (i + 1) * size);
    let max = 0;
    for (const v of ctx.maps[i]) if (v > max) max = v;
    const masked = new Float32Array(size);
    for (let p = 0; p < H * W; p++) {
      const v = ctx.maps[i][p];
      const w = max > 0 && v > 0 ? v / max : 0;
      for (let c = 0; c < C; c++) masked[p * C + c] = fill + w * (img[p * C + c] - fill);
    }
    await queue.push(img, ctx.targets[i]);
    await queue.push(masked, ctx.targets[i]);
  }
  const s = await queue.flush();
  return Array.from({ length: N }, (_, i) => ({ y: s[2 * i], o: s[2 * i + 1] }));
}

export const averageDrop: Metric<{ score?: ScoreKind }> = {
  id: 'average-drop',
  title: 'Average drop (%)',
  family: 'faithfulness',
  description:
    'Percent of the target score lost when the model sees only what the map highlights (Grad-CAM++). Lower is better.',
  higherIsBetter: false,
  needs: { model: true, region: false, explain: false },
  cost: '2 forwards per input',
  async compute(ctx, o = {}) {
    const s = await maskedScores(ctx, 'average-drop', o.score);
    return resultOf(
      'average-drop',
      s.map(({ y, o: m }) => (y > 0 ? (100 * Math.max(0, y - m)) / y : Number.NaN)),
    );
  },
};

export const increaseInConfidence: Metric<{ score?: ScoreKind }> = {
  id: 'increase-in-confidence',
  title: 'Increase in confidence',
  family: 'faithfulness',
  description:
    '1 when the target score rises as the model sees only what the map highlights, else 0; the mean is the rate (Grad-CAM++). Higher is better.',
  higherIsBetter: true,
  needs: { model: true, region: false, explain: false },
  cost: '2 forwards per input',
  async compute(ctx, o = {}) {
    const s = await maskedScores(ctx, 'increase-in-confidence', o.score);
    return resultOf(
      'increase-in-confidence',
      s.map(({ y, o: m }) => (m > y ? 1 : 0)),
    );
  },
};
