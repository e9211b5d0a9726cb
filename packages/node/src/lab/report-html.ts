/**
 * index.html from the stages' results: table of contents, a short explanation per section (what the
 * method computes and what to look for), figures (relative links to DIR/figures), tables, the
 * training timeline with sliders. Self-contained: inline CSS and JS, no network.
 */
import { REPORT_JS } from './report-script.ts';
import { REPORT_CSS } from './report-style.ts';
import type { LabSettings } from './settings.ts';
import type { Figure, StageResult, Timeline } from './types.ts';

export interface SectionSpec {
  id: string;
  title: string;
  explain: string[];
}

export const SECTIONS: SectionSpec[] = [
  {
    id: 'data',
    title: '1. Data',
    explain: [
      'Where the images came from, how they were split, and how many of each class there are. A strongly unbalanced class count would bias the classifier; look at the sample grid for mislabelled or odd examples.',
    ],
  },
  {
    id: 'train',
    title: '2. Training, made visible',
    explain: [
      'Learning curves: loss and accuracy per epoch on the training data (with dropout active) and on the validation data. Validation loss rising while training loss falls is overfitting.',
      'The timeline: move a slider to see, after every epoch, the first-layer feature maps and filters, class maximizations and Grad-CAMs for the same fixed probe images.',
    ],
  },
  {
    id: 'test',
    title: '3. Test performance',
    explain: [
      'Accuracy on held-out data, the confusion matrix (which classes are confused with which), precision/recall/F1 per class, and the misclassified examples: are the mistakes understandable (ambiguous digits) or silly?',
    ],
  },
  {
    id: 'part1',
    title: '4. Part 1: inside the network',
    explain: [
      'Feature maps: what every conv layer computes for one digit (one tile per filter, one shared colour scale per layer); dense layers as bars.',
      'Class × filter means: the average output of every filter of every layer per class — columns bright for one class only are class-specific detectors.',
      'Argmax-filter and mode maps: per pixel, which filter responds most, and per class the most frequent such filter; top-9 patches: the receptive-field crops that excite a filter most. Receptive fields say how much of the input each layer sees.',
    ],
  },
  {
    id: 'part2',
    title: '5. Part 2: activation maximization',
    explain: [
      'Gradient ascent on the input to maximize a class score (before softmax), a filter or a unit. Without regularization the result is high-frequency noise the model is sure about; total variation (TV) smooths it. The sweep shows the trade-off; the chosen weight follows the rule stated below.',
      'Pairs of classes maximized together show what the model needs to see both digits at once (e.g. 1 & 7 share a stroke).',
    ],
  },
  {
    id: 'part3',
    title: '6. Part 3: explaining decisions',
    explain: [
      'Attribution maps say which pixels a decision depends on: CAM and Grad-CAM weight the last conv layer’s maps, saliency/SmoothGrad/integrated gradients use input gradients, DeconvNet projects back through the network, occlusion measures the score drop when a patch is hidden. Good maps sit on the strokes that distinguish the digit.',
    ],
  },
];

const esc = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

function figureHtml(f: Figure): string {
  const wide = f.width > 520 ? ' class="wide"' : '';
  return `<figure${wide}><a href="${esc(f.src)}"><img src="${esc(f.src)}" alt="${esc(f.title)}" width="${f.width}" height="${f.height}"></a><figcaption><b>${esc(f.title)}</b>${f.caption ? `. ${esc(f.caption)}` : ''}</figcaption></figure>`;
}

/** Figures in order, a sub-heading wherever the group changes. */
function figuresHtml(figs: Figure[]): string {
  const parts: string[] = [];
  let group: string | undefined;
  let open: Figure[] = [];
  const flush = () => {
    if (open.length) parts.push(`<div class="figs">${open.map(figureHtml).join('')}</div>`);
    open = [];
  };
  for (const f of figs) {
    if (f.group !== group) {
      flush();
      group = f.group;
      if (group) parts.push(`<h3>${esc(group)}</h3>`);
    }
    open.push(f);
  }
  flush();
  return parts.join('\n');
}

function timelineHtml(t: Timeline): string {
  const f0 = t.frames.at(-1)!;
  return `<div class="timeline" id="tl-${t.id}" data-frames="${esc(JSON.stringify(t.frames.map((f) => f.src)))}" data-labels="${esc(JSON.stringify(t.labels))}">
<h3>${esc(t.title)}</h3><p class="meta">${esc(t.caption)}</p>
<label>Epoch: <output>${esc(t.labels.at(-1)!)}</output><br><input type="range" min="0" max="${t.frames.length - 1}" value="${t.frames.length - 1}" aria-label="${esc(t.title)} epoch"></label>
<img src="${esc(f0.src)}" alt="${esc(t.title)}" width="${f0.width}" height="${f0.height}"></div>`;
}

/** Cells right-aligned as numbers: 0.123, 1,500, 45%, −1, and the dash for “none”. */
const NUMERIC = /^[-+−]?[\d.,]+%?$|^–$/;

function tableHtml(t: NonNullable<StageResult['tables']>[number]): string {
  const chosen = t.header.map((h) => h.startsWith('★'));
  return `<h3>${esc(t.title)}</h3><div class="scroll"><table><thead><tr>${t.header.map((h, i) => `<th${chosen[i] ? ' class="chosen"' : ''}>${esc(h)}</th>`).join('')}</tr></thead><tbody>${t.rows
    .map(
      (r) =>
        `<tr>${r.map((v, i) => `<td class="${chosen[i] ? 'chosen ' : ''}${NUMERIC.test(String(v)) ? 'num' : 'text'}">${esc(String(v))}</td>`).join('')}</tr>`,
    )
    .join('')}</tbody></table></div>`;
}

export function buildHtml(
  settings: LabSettings,
  results: Record<string, StageResult | undefined>,
  timings: Record<string, number>,
): string {
  const sections = SECTIONS.map((sec) => {
    const r = results[sec.id];
    const body = r
      ? [
          ...(r.notes ?? []).map(
            (n) => `<p${/not available yet/i.test(n) ? ' class="missing"' : ''}>${esc(n)}</p>`,
          ),
          figuresHtml(r.figures),
          ...(r.timelines?.length ? [`<h3>Timeline</h3>`, ...r.timelines.map(timelineHtml)] : []),
          ...(r.tables ?? []).map(tableHtml),
        ].join('\n')
      : '<p class="missing">Not computed yet (the run stopped before this stage).</p>';
    const t = timings[sec.id];
    return `<section id="${sec.id}"><h2>${esc(sec.title)}</h2>${sec.explain.map((e) => `<p class="explain">${esc(e)}</p>`).join('')}${t !== undefined ? `<p class="meta">stage wall time ${t.toFixed(1)} s</p>` : ''}${body}</section>`;
  }).join('\n');
  const s = settings;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>convlens lab: ${esc(s.model)} on ${esc(s.dataset)}</title><style>${REPORT_CSS}</style></head>
<body><header><h1>convlens lab: ${esc(s.model)} on ${esc(s.dataset)}</h1>
<p class="meta">${s.quick ? '--quick run (few epochs, small subsets). ' : ''}Settings: ${s.epochs} epochs${s.trainLimit ? ` on the first ${s.trainLimit} training images` : ''}, batch ${s.batchSize}, seed ${s.seed}, backend ${esc(s.backend)}; statistics over ${s.statsImages} images; act-max ${s.actmaxSteps} steps, tv weights ${s.tvWeights.join(', ')}. All numbers are in <a href="report.json">report.json</a>; the trained model is in <code>run/</code>.</p></header>
<nav><h2>Contents</h2><ol>${SECTIONS.map((x) => `<li><a href="#${x.id}">${esc(x.title.replace(/^\d+\.\s*/, ''))}</a></li>`).join('')}</ol></nav>
<main>${sections}</main><script>${REPORT_JS}</script></body></html>
`;
}
