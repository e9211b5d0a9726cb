/** Precision, recall and F1 of one class, from a confusion matrix. */
export interface ClassStats {
  precision: number;
  recall: number;
  f1: number;
  /** Number of examples whose true class this is (the row sum). */
  support: number;
}

export interface ConfusionStats {
  total: number;
  accuracy: number;
  perClass: ClassStats[];
  /** Unweighted mean F1 over the classes that occur (as true or predicted class), as scikit-learn's macro average. */
  macroF1: number;
  macroPrecision: number;
  macroRecall: number;
}

/**
 * Statistics of a square confusion matrix (rows = true class, columns = predicted class). A ratio
 * with a zero denominator is 0 (scikit-learn's zero_division=0).
 */
export function confusionStats(confusion: readonly (readonly number[])[]): ConfusionStats {
  const k = confusion.length;
  if (confusion.some((row) => row.length !== k)) throw new Error('confusion matrix must be square');
  const colSum = new Array<number>(k).fill(0);
  let total = 0;
  let correct = 0;
  for (let t = 0; t < k; t++) {
    for (let p = 0; p < k; p++) {
      colSum[p] += confusion[t][p];
      total += confusion[t][p];
    }
    correct += confusion[t][t];
  }
  const perClass = confusion.map((row, c) => {
    const support = row.reduce((a, b) => a + b, 0);
    const tp = row[c];
    const precision = ratio(tp, colSum[c]);
    const recall = ratio(tp, support);
    return { precision, recall, f1: ratio(2 * precision * recall, precision + recall), support };
  });
  const present = perClass.filter((s, c) => s.support > 0 || colSum[c] > 0);
  const mean = (f: (s: ClassStats) => number) =>
    present.length ? present.reduce((a, s) => a + f(s), 0) / present.length : 0;
  return {
    total,
    accuracy: ratio(correct, total),
    perClass,
    macroF1: mean((s) => s.f1),
    macroPrecision: mean((s) => s.precision),
    macroRecall: mean((s) => s.recall),
  };
}

function ratio(a: number, b: number): number {
  return b === 0 ? 0 : a / b;
}
