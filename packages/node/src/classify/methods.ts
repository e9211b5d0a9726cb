/**
 * The classic classifiers `classify` trains on standardized feature rows, each behind one small
 * interface (fit / predict / a JSON state to save and load). Labels are dense 0…k−1 here.
 * Choices (measured on MobileNet 0.25 and pw11 features, see README "Features and classic classifiers"):
 * - svm: libsvm-js (libsvm 3.22 compiled to wasm; C-SVC, RBF kernel, gamma = 1/F, C = 1: scikit-learn's
 *   defaults on standardized data).
 * - knn: ml-knn (k = 5, euclidean).
 * - forest: ml-random-forest (16 trees (depth ≤ 6), √F features per tree, seeded).
 * - logreg: multinomial (softmax) logistic regression in tfjs: ml-logistic-regression is one-vs-rest
 *   plain gradient descent (50,000 steps by default) and was both slower and less accurate.
 * - mlp: one hidden layer of 128 ReLU units in tfjs (Adam, 40 epochs, batches of 32).
 */
import { createRequire } from 'node:module';
import { RandomForestClassifier } from 'ml-random-forest';
import { type DenseSpec, type DenseState, fitDense, loadDense } from './dense-net.ts';

const require = createRequire(import.meta.url);

export const CLASSIFY_METHODS = ['logreg', 'svm', 'knn', 'forest', 'mlp'] as const;
export type ClassifyMethod = (typeof CLASSIFY_METHODS)[number];

export interface TrainedClassifier {
  predict(x: number[][]): number[];
  /** JSON-able; `load` turns it back into a classifier. */
  state(): unknown;
  dispose(): void;
}

export interface ClassifierMethod {
  name: ClassifyMethod;
  library: string;
  /** One line: what it is with which settings. */
  settings: string;
  fit(x: number[][], y: number[], k: number, seed: number): Promise<TrainedClassifier>;
  load(state: unknown): Promise<TrainedClassifier>;
}

const LOGREG: DenseSpec = {
  hidden: [],
  epochs: 300,
  batchSize: Number.POSITIVE_INFINITY,
  learningRate: 0.05,
  l2: 1e-3,
};
const MLP: DenseSpec = { hidden: [128], epochs: 40, batchSize: 32, learningRate: 1e-3, l2: 1e-4 };

function dense(name: ClassifyMethod, spec: DenseSpec, settings: string): ClassifierMethod {
  const asTrained = (net: ReturnType<typeof loadDense>): TrainedClassifier => ({
    predict: (x) => net.predict(x),
    state: () => net.state(),
    dispose: () => net.dispose(),
  });
  return {
    name,
    library: 'tfjs (@tensorflow/tfjs 4.22)',
    settings,
    fit: async (x, y, k, seed) => asTrained(await fitDense(x, y, k, spec, seed)),
    load: async (state) => asTrained(loadDense(state as DenseState)),
  };
}

let svmModule: Promise<any> | undefined;
/** libsvm-js's wasm build loads asynchronously, once. */
const loadSvm = () => {
  // Its emscripten loader warns on stderr that Node cannot stream-compile a file path; it then
  // instantiates from the buffer, which is fine: keep that line out of the command's output.
  svmModule ??= (async () => {
    const warn = console.warn;
    const error = console.error;
    console.warn = () => {};
    console.error = () => {};
    try {
      return await (require('libsvm-js') as Promise<any>);
    } finally {
      console.warn = warn;
      console.error = error;
    }
  })();
  return svmModule;
};

const svm: ClassifierMethod = {
  name: 'svm',
  library: 'libsvm-js 0.2 (libsvm 3.22, wasm)',
  settings: 'C-SVC, RBF kernel, gamma = 1/F, C = 1',
  async fit(x, y) {
    const SVM = await loadSvm();
    const m = new SVM({
      type: SVM.SVM_TYPES.C_SVC,
      kernel: SVM.KERNEL_TYPES.RBF,
      gamma: 1 / Math.max(1, x[0]?.length ?? 1),
      cost: 1,
      quiet: true,
    });
    m.train(x, y);
    return svmTrained(m);
  },
  async load(state) {
    const SVM = await loadSvm();
    return svmTrained(SVM.load((state as { model: string }).model));
  },
};

function svmTrained(m: any): TrainedClassifier {
  return {
    predict: (x) => (x.length ? (m.predict(x) as number[]) : []),
    state: () => ({ model: m.serializeModel() as string }),
    dispose: () => m.free(),
  };
}

const knn: ClassifierMethod = {
  name: 'knn',
  library: 'ml-knn 3.0',
  settings: 'k = 5, euclidean distance',
  async fit(x, y) {
    const KNN = require('ml-knn');
    return knnTrained(new KNN(x, y, { k: Math.min(5, x.length) }));
  },
  async load(state) {
    const KNN = require('ml-knn');
    return knnTrained(KNN.load(state));
  },
};

function knnTrained(m: any): TrainedClassifier {
  return {
    predict: (x) => (x.length ? (m.predict(x) as number[]) : []),
    state: () => m.toJSON(),
    dispose: () => {},
  };
}

const forest: ClassifierMethod = {
  name: 'forest',
  library: 'ml-random-forest 2.1',
  settings: '16 trees (depth ≤ 6), √F features per tree, bootstrap samples',
  async fit(x, y, _k, seed) {
    const f = x[0]?.length ?? 1;
    const m = new RandomForestClassifier({
      nEstimators: 16,
      treeOptions: { maxDepth: 6, minNumSamples: 3 },
      maxFeatures: Math.max(1, Math.round(Math.sqrt(f))),
      replacement: true,
      useSampleBagging: true,
      noOOB: true,
      seed,
    });
    m.train(x, y);
    return forestTrained(m);
  },
  async load(state) {
    return forestTrained(RandomForestClassifier.load(state as any));
  },
};

function forestTrained(m: RandomForestClassifier): TrainedClassifier {
  return {
    predict: (x) => (x.length ? (m.predict(x) as number[]) : []),
    state: () => m.toJSON(),
    dispose: () => {},
  };
}

export const METHODS: Record<ClassifyMethod, ClassifierMethod> = {
  logreg: dense('logreg', LOGREG, 'softmax regression, L2 1e-3, Adam 0.05, 200 full-batch steps'),
  svm,
  knn,
  forest,
  mlp: dense('mlp', MLP, '1 hidden layer of 128 ReLU, L2 1e-4, Adam 1e-3, 40 epochs, batch 32'),
};
