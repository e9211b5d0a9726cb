/**
 * Datasets convlens knows by name: where to download them, their checksums, their class names.
 * md5s are those of the files the mirrors serve (as torchvision and keras.datasets check them).
 */

/** The four IDX files of an MNIST-style dataset, without the optional .gz suffix. */
export const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

export type IdxRole = keyof typeof IDX_FILES;

/**
 * Download order: training files first, the test split last. A folder counts as a dataset once its
 * test split is there, so an interrupted download can never leave a cache that looks usable but
 * silently lacks training images that should have been there.
 */
export const DOWNLOAD_ORDER: readonly IdxRole[] = ['trainImages', 'trainLabels', 'testImages', 'testLabels'];

export interface DatasetSpec {
  name: string;
  classNames: string[];
  /** Base URLs tried in order; each is joined with `<file>.gz`. */
  mirrors: string[];
  /** md5 of each gzipped file as served by the mirrors. */
  md5: Record<IdxRole, string>;
}

export const DATASETS: Record<string, DatasetSpec> = {
  mnist: {
    name: 'mnist',
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    mirrors: [
      'https://ossci-datasets.s3.amazonaws.com/mnist/',
      'https://storage.googleapis.com/cvdf-datasets/mnist/',
    ],
    md5: {
      trainImages: 'f68b3c2dcbeaaa9fbdd348bbdeb94873',
      trainLabels: 'd53e105ee54ea40749a09fcbcd1e9432',
      testImages: '9fb629c4189551a2d022fa330f9573f3',
      testLabels: 'ec29112dd5afa0611ce80d1b7f02629c',
    },
  },
  'fashion-mnist': {
    name: 'fashion-mnist',
    classNames: [
      'T-shirt/top',
      'Trouser',
      'Pullover',
      'Dress',
      'Coat',
      'Sandal',
      'Shirt',
      'Sneaker',
      'Bag',
      'Ankle boot',
    ],
    mirrors: ['http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/'],
    md5: {
      trainImages: '8d4fb7e6c68d591d4c3dfef9ec88bf0d',
      trainLabels: '25c81989df183df01b3e8a0aad5dffbe',
      testImages: 'bef4ecab320f06d8554ea6380940ec79',
      testLabels: 'bb300cfdad3c16e7a12a480ee83cd310',
    },
  },
};

export const DATASET_NAMES = Object.keys(DATASETS);

/** 'train-images-idx3-ubyte.gz, …' for messages. */
export function idxFileList(): string {
  return DOWNLOAD_ORDER.map((r) => `${IDX_FILES[r]}[.gz]`).join(', ');
}
