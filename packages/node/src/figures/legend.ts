/** A figure with a coloured-swatch legend under it (concept regions, bar charts): one SVG composite. */
import type { RGBAImage } from '@convlens/core/render/image';
import sharp from 'sharp';
import { toRgba } from '../io/png.ts';

const esc = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

export interface LegendEntry {
  colour: [number, number, number];
  text: string;
}

/** `img` with a bold title above and one legend line per entry below, on white. */
export async function withLegend(
  img: RGBAImage,
  title: string,
  entries: LegendEntry[],
  fontSize = 13,
): Promise<RGBAImage> {
  const lineH = Math.round(fontSize * 1.5);
  const top = lineH + 6;
  const textWidth = Math.max(
    title.length * fontSize * 0.68,
    ...entries.map((e) => e.text.length * fontSize * 0.6 + lineH + 6),
  );
  const width = Math.ceil(Math.max(img.width + 16, textWidth + 16));
  const height = top + img.height + 8 + entries.length * lineH + 6;
  const y0 = top + img.height + 8;
  const rows = entries
    .map(
      (e, i) =>
        `<rect x="8" y="${y0 + i * lineH + 2}" width="${fontSize}" height="${fontSize}" fill="rgb(${e.colour.join(',')})"/>` +
        `<text x="${14 + fontSize}" y="${y0 + i * lineH + fontSize}">${esc(e.text)}</text>`,
    )
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="white"/><g font-family="DejaVu Sans, sans-serif" font-size="${fontSize}" fill="#222"><text x="8" y="${fontSize + 3}" font-weight="bold">${esc(title)}</text>${rows}</g></svg>`;
  const raw = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  return toRgba(
    sharp(Buffer.from(svg)).composite([
      { input: raw, raw: { width: img.width, height: img.height, channels: 4 }, left: 8, top },
    ]),
  );
}
