export * from './colormap.ts';
export * from './image.ts';
export * from './overlay.ts';
