/** Faithfulness and sanity scores for explanation maps (issue 7). */
export * from './deletion-insertion.ts';
export * from './pointing-game.ts';
export * from './randomization.ts';
export * from './rank-correlation.ts';
export * from './road.ts';
export * from './table.ts';
