/**
 * Dataset-statistics throughput (class means, class mean maps, mode maps, top-9 of every layer) as
 * the `stats` command runs it: one class per batch of 256. Compared with plain forward inference of
 * the same model at the same batch size, in the same run: the statistics should cost little more.
 */
import type { tf } from '@convlens/core/engine/backend';
import { StatsCollector } from '@convlens/core/stats/collector';

export async function measureStats(model: tf.LayersModel, images = 5120, batch = 256): Promise<number> {
  const [h, w, c] = (model.inputs[0].shape as number[]).slice(1);
  const per = h * w * c;
  let seed = 12345;
  const x = new Float32Array(batch * per).map(() => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32;
  });
  const run = async (n: number) => {
    const collector = new StatsCollector(model, {
      numClasses: 10,
      source: { dataset: 'random', datasetSize: n, shardCount: 1, shards: [0] },
    });
    for (let start = 0; start < n; start += batch) {
      const size = Math.min(batch, n - start);
      const label = Math.floor(start / batch) % 10;
      const indices = Int32Array.from({ length: size }, (_, i) => start + i);
      await collector.add({ x, y: new Uint8Array(size).fill(label), size, indices });
    }
  };
  await run(batch); // warm-up
  const t0 = performance.now();
  await run(images);
  return images / ((performance.now() - t0) / 1000);
}
