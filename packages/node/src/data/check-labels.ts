/**
 * Sanity checks on IDX labels before they decide a model's size: an unnamed dataset's class count is
 * its largest label + 1, so one stray byte (a label of 200 among 0–9) would silently train a 201-class
 * model. Said in one line instead, as are empty files and single-class training data.
 */

export interface LabelFile {
  images: string;
  labels: string;
  /** Images announced by the images file. */
  count: number;
  data: Uint8Array;
}

export interface CheckLabelOptions {
  /** A catalogued dataset (mnist, …): its class names fix the class count, so range errors are caught later. */
  named: boolean;
  /** The data is for training: it needs at least 2 classes, each with images. */
  forTraining: boolean;
}

const range = (a: number, b: number) => (a === b ? `${a}` : `${a}–${b}`);

/** Checks the label files and returns the largest label over all of them. */
export function checkLabels(files: LabelFile[], opts: CheckLabelOptions): number {
  for (const f of files)
    if (f.count === 0) throw new Error(`${f.images}: holds no images (0 in its IDX header)`);
  const counts = new Map<number, number>();
  const fileOf = new Map<number, string>();
  for (const f of files)
    for (const v of f.data) {
      counts.set(v, (counts.get(v) ?? 0) + 1);
      if (!fileOf.has(v)) fileOf.set(v, f.labels);
    }
  const present = [...counts.keys()].sort((a, b) => a - b);
  const maxLabel = present.length ? present[present.length - 1] : 0;
  if (!opts.forTraining || opts.named) return maxLabel;
  const where = files.map((f) => f.labels).join(', ');
  if (present.length === 1)
    throw new Error(
      `${where}: every label is ${present[0]}: only one class; training a classifier needs at least 2`,
    );
  const empty = maxLabel + 1 - present.length;
  if (empty > 0) {
    const model = `that would train a ${maxLabel + 1}-class model with ${empty} classes that have no images`;
    if (!counts.has(0))
      throw new Error(
        `${where}: no image has label 0 (labels run ${range(present[0], maxLabel)}): ${model}; labels must be 0..N-1`,
      );
    // The run of classes 0..k without a gap, and the labels beyond the first gap.
    let k = 0;
    while (counts.has(k + 1)) k++;
    const beyond = present.filter((v) => v > k);
    const listed = beyond
      .slice(0, 3)
      .map((v) => `${v} (${counts.get(v)} image${counts.get(v) === 1 ? '' : 's'})`)
      .join(', ');
    const more = beyond.length > 3 ? ` and ${beyond.length - 3} more` : '';
    throw new Error(
      `${fileOf.get(beyond[0]) ?? where}: label${beyond.length > 1 ? 's' : ''} ${listed}${more} beyond ` +
        `the others (${range(0, k)}): ${model}; labels must be 0..N-1 with every class present`,
    );
  }
  return maxLabel;
}
