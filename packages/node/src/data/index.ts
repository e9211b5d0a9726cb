/** Datasets on disk: lookup, download cache, loading. */
export * from './catalog.ts';
export * from './download.ts';
export * from './load.ts';
export * from './resolve.ts';
