/** `convlens receptive-field`: size, jump (stride) and start offset of every layer's receptive field. */
import { type BackendName, initBackend } from '@convlens/core/engine/backend';
import { type LayerField, receptiveFields } from '@convlens/core/inspect/receptive-field';
import { loadRun } from '../train/load-run.ts';

export async function receptiveFieldCommand(o: { run: string; backend: BackendName }): Promise<{
  model: string;
  inputShape: number[];
  layers: LayerField[];
}> {
  await initBackend(o.backend);
  const run = await loadRun(o.run);
  try {
    return { model: run.model.name, inputShape: run.config.inputShape, layers: receptiveFields(run.model) };
  } finally {
    run.model.dispose();
  }
}

export function formatReceptiveFields(r: Awaited<ReturnType<typeof receptiveFieldCommand>>): string {
  const lines = [
    `receptive fields of ${r.model} (input ${r.inputShape.join('×')}); unit (y, x) sees rows start + y·jump … + size − 1`,
    'layer           class                 output   size     jump   start',
  ];
  for (const f of r.layers) {
    const ax = (
      a: { size: number; jump: number; start: number },
      b: typeof a,
      k: 'size' | 'jump' | 'start',
    ) => (a[k] === b[k] ? String(a[k]) : `${a[k]}×${b[k]}`);
    lines.push(
      `${f.layer.padEnd(15)} ${f.className.padEnd(21)} ${(f.outSize ? f.outSize.join('×') : '-').padEnd(8)} ` +
        (f.global
          ? 'whole input'
          : `${ax(f.rows, f.cols, 'size').padEnd(8)} ${ax(f.rows, f.cols, 'jump').padEnd(6)} ${ax(f.rows, f.cols, 'start')}`),
    );
  }
  return lines.join('\n');
}
