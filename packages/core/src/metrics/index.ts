/** Explanation-quality metrics (issue 19): one interface, one registry, six families. */
export * from './common.ts';
export * from './explainer.ts';
export * from './regions.ts';
export * from './registry.ts';
export * from './similarity.ts';
export * from './types.ts';
