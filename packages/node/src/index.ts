/** convlens for Node: datasets on disk, model and checkpoint files, the benchmark. */
export * from './bench/bench.ts';
export * from './data/index.ts';
export * from './engine/wasm-threads.ts';
export * from './io/atomic.ts';
export * from './io/model-io.ts';
export * from './train/checkpoint.ts';
export * from './train/run-dir.ts';
