export * from './colormap.ts';
export * from './image.ts';
