/**
 * Reads NumPy .npy arrays (float32/float64, C order): the way to hand activation maximization an exact
 * float start image (PNGs are 8-bit and cannot carry out-of-range or non-finite values to reject).
 */

export interface NpyArray {
  data: Float32Array;
  shape: number[];
}

export function parseNpy(bytes: Uint8Array, name = 'array'): NpyArray {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) throw new Error(`${name}: not a .npy file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder('latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = header.match(/'descr':\s*'([^']+)'/)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shapeText = header.match(/'shape':\s*\(([^)]*)\)/)?.[1];
  if (!descr || shapeText === undefined) throw new Error(`${name}: unreadable .npy header`);
  if (fortran) throw new Error(`${name}: Fortran-order .npy arrays are not supported`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  const size = descr === '<f4' ? 4 : descr === '<f8' ? 8 : 0;
  if (!size) throw new Error(`${name}: .npy dtype ${descr} is not supported (float32 or float64 expected)`);
  if (bytes.length - offset < count * size) throw new Error(`${name}: truncated .npy data`);
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    data[i] = size === 4 ? view.getFloat32(offset + 4 * i, true) : view.getFloat64(offset + 8 * i, true);
  }
  return { data, shape };
}

/** Encodes float32 data as .npy (for tests and for saving results numerically). */
export function encodeNpy(data: Float32Array, shape: number[]): Uint8Array {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  header += `${' '.repeat((64 - (total % 64)) % 64)}\n`;
  const out = new Uint8Array(10 + header.length + data.length * 4);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(10 + header.length + 4 * i, data[i], true);
  return out;
}
