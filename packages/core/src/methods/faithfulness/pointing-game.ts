/**
 * Pointing game (Zhang et al.): a hit when the map's maximum lies inside the object's box.
 * Boxes are in input pixels, inclusive of x0/y0 and exclusive of x1/y1.
 */
export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** Whether the (first) maximum of a row-major H×W map falls in any of the boxes; NaN maps miss. */
export function pointingHit(map: Float32Array, width: number, boxes: Box[]): boolean {
  let best = -1;
  for (let i = 0; i < map.length; i++)
    if (!Number.isNaN(map[i]) && (best < 0 || map[i] > map[best])) best = i;
  if (best < 0) return false;
  const x = best % width;
  const y = Math.floor(best / width);
  return boxes.some((b) => x >= b.x0 && x < b.x1 && y >= b.y0 && y < b.y1);
}

/** Fraction of hits over a set of maps, each with its own boxes. */
export function pointingGame(maps: Float32Array[], width: number, boxes: Box[][]): number {
  if (maps.length !== boxes.length) throw new Error(`${maps.length} maps but ${boxes.length} box lists`);
  if (maps.length === 0) throw new Error('pointing game needs at least one map');
  return maps.filter((m, i) => pointingHit(m, width, boxes[i])).length / maps.length;
}
