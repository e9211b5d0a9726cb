/**
 * index.html from the stages' results: table of contents, a short explanation per section (what the
 * method computes and what to look for), figures (relative links to DIR/figures), tables, the
 * training timeline with sliders. Self-contained: inline CSS and JS, no network.
 */
import { REPORT_JS } from './report-script.ts';
import { REPORT_CSS } from './report-style.ts';
import type { LabSettings } from './settings.ts';
import { METHODS_SECTION } from './stage-methods.ts';
import type { Figure, StageResult, Timeline } from './types.ts';

export interface SectionSpec {
  id: string;
  title: string;
  explain: string[];
  /** The explanation for a model the lab did not train (photos, many classes), when it differs. */
  explainPretrained?: string[];
}

export const SECTIONS: SectionSpec[] = [
  {
    id: 'data',
    title: '1. Data',
    explain: [
      'Where the images came from, how they were split, and how many of each class there are. A strongly unbalanced class count would bias the classifier; look at the sample grid for mislabelled or odd examples.',
    ],
    explainPretrained: [
      'The images the lab looks at (--dataset, or a training run’s own held-out split), as the model sees them: every file decoded and brought to the model’s input size by its resize policy (the shorter side scaled, the centre cropped, for ImageNet-size models), class folders or CSV labels matched to the model’s class names. Look at the samples for crops that cut the object away and for labels the model cannot know.',
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
    explainPretrained: [
      'Top-1 accuracy (the highest-scoring class is the label) and top-5 accuracy (the label is among the five highest) over the dataset. With few classes, the confusion matrix among the dataset’s classes (a column “other” for predictions outside them); with many, the most-confused pairs. The misclassified images with the model’s guess and Grad-CAM for it and for the true class: is the mistake understandable?',
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
    explainPretrained: [
      'A few conv layers spread over the depth of the network, each read after its batch normalization and activation: what the next layer sees. Feature maps: what each computes for one image (one tile per channel, one colour scale per layer). Filters: the kernels of the first layer, and the spatial (depthwise) kernels feeding the deeper layers.',
      'Over the dataset: the mean output of every channel per class (channels bright for one class only are class-specific), the argmax-channel and per-class mode maps, and the top-9 patches: for a channel, the nine image regions — each cut to the unit’s receptive field — that excite it most. Early layers respond to colours and edges, deep ones to object parts. (Deep MobileNet units often reach ReLU6’s ceiling of 6 on several images: their order within the top 9 is then a tie.)',
    ],
  },
  {
    id: 'part2',
    title: '5. Part 2: activation maximization',
    explain: [
      'Gradient ascent on the input to maximize a class score (before softmax), a filter or a unit. Without regularization the result is high-frequency noise the model is sure about; total variation (TV) smooths it. The sweep shows the trade-off; the chosen weight follows the rule stated below.',
      'Pairs of classes maximized together show what the model needs to see both digits at once (e.g. 1 & 7 share a stroke).',
    ],
    explainPretrained: [
      'Gradient ascent on the input to maximize a class score (the logit, before softmax) or one unit of a layer (before its activation, as Lucid does: ReLU6 passes no gradient past 6). On an ImageNet model, plain pixel ascent finds high-frequency noise the model is sure about; the Lucid recipe used here makes images a person can read: the image is parameterized in a decorrelated Fourier basis (colours and frequencies scaled like natural images), and every step sees it jittered, scaled and rotated, so only patterns that survive those transforms grow.',
    ],
  },
  {
    id: 'part3',
    title: '6. Part 3: explaining decisions',
    explain: [
      'Attribution maps say which pixels a decision depends on: CAM and Grad-CAM weight the last conv layer’s maps, saliency/SmoothGrad/integrated gradients use input gradients, DeconvNet projects back through the network, occlusion measures the score drop when a patch is hidden. Good maps sit on the strokes that distinguish the digit.',
    ],
    explainPretrained: [
      'Attribution maps say which pixels a decision depends on: the CAM family weights the last conv layer’s maps (coarse, class-specific), saliency, SmoothGrad, gradient × input and integrated gradients use input gradients (fine, noisy), guided backprop and DeconvNet project back through the ReLUs, occlusion, LIME and KernelSHAP hide parts of the image and watch the score. Good maps sit on the object, not on the background. The faithfulness table says which maps the model’s behaviour confirms.',
    ],
  },
  METHODS_SECTION,
  {
    id: 'featuremap',
    title: '7. Feature space',
    explain: [
      'Every image becomes a point: a layer’s output, averaged over positions, mapped to two dimensions by UMAP (neighbourhoods kept) and PCA (the two directions of largest variance), coloured by class. Shallow layers mix the classes; deeper ones pull each class together — the network’s own notion of which images are alike. The thumbnail map shows the images themselves at their places, and the neighbour rows the images nearest to a few queries in the full feature space. The table measures the separation: how often an image’s five nearest neighbours share its class.',
    ],
  },
  {
    id: 'transfer',
    title: '8. Transfer learning',
    explain: [
      'The lecture’s transfer-learning recipe, measured: reuse a pretrained network for new classes by (a) taking a layer’s features (here the last shown layer, averaged over positions; in the zoo lab with --transfer, the trained network’s last spatial layer on another dataset) and training a classic classifier on them — logistic regression, an SVM, k nearest neighbours, a random forest, a small dense net; (b) training a new head on the frozen network; (c) fine-tuning after the head, the last block only (from the last convolution, with its depthwise partner in a depthwise-separable block) and all layers. Same images, same split, test accuracy and wall time side by side, and the rule of thumb (small data similar to ImageNet → features + a linear classifier; more data or another domain → fine-tune) set against what was measured.',
    ],
  },
];

/** The reason a pretrained run has no training section. */
export const trainOmitted = (source: string, kind: string) =>
  `Omitted: the model (${source}, ${KIND_TEXT[kind] ?? `a ${kind} model`}) is used as it is — the lab trains only zoo models, so there are no learning curves or training timeline.`;

const KIND_TEXT: Record<string, string> = {
  run: 'a training run',
  imported: 'an imported model',
  tfjs: 'a tfjs model',
  'tfjs-url': 'a tfjs model from a URL',
  'keras-h5': 'a Keras .h5 model',
  'keras-zip': 'a Keras .keras model',
};

const esc = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

function figureHtml(f: Figure): string {
  const cls = [f.width > 520 ? 'wide' : '', f.smooth ? 'smooth' : ''].filter(Boolean).join(' ');
  const wide = cls ? ` class="${cls}"` : '';
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
  const pre = settings.pretrained;
  const sections = SECTIONS.map((sec) => {
    const r = results[sec.id];
    if (r?.omitted)
      return `<section id="${sec.id}"><h2>${esc(sec.title)}</h2><p class="omitted">${esc(r.omitted)}</p></section>`;
    const explain = (pre && sec.explainPretrained) || sec.explain;
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
    return `<section id="${sec.id}"><h2>${esc(sec.title)}</h2>${explain.map((e) => `<p class="explain">${esc(e)}</p>`).join('')}${t !== undefined ? `<p class="meta">stage wall time ${t.toFixed(1)} s</p>` : ''}${body}</section>`;
  }).join('\n');
  const s = settings;
  const meta = pre
    ? `${s.quick ? '--quick run (small subsets). ' : ''}${esc(modelKindWords(pre.kind))} used as it is (not trained here): input ${pre.inputShape.join('×')}, ${pre.numClasses} classes, ${esc(pre.preprocess)}, class scores: ${esc(pre.scores)}. ${pre.images} of ${pre.dataset.count} images; statistics over ${pre.statsImages}; layers ${esc(pre.layers.join(', '))}; act-max ${pre.actmaxSteps} steps; seed ${s.seed}, backend ${esc(s.backend)}. All numbers are in <a href="report.json">report.json</a>.`
    : `${s.quick ? '--quick run (few epochs, small subsets). ' : ''}Settings: ${s.epochs} epochs${s.trainLimit ? ` on the first ${s.trainLimit} training images` : ''}, batch ${s.batchSize}, seed ${s.seed}, backend ${esc(s.backend)}; statistics over ${s.statsImages} images; act-max ${s.actmaxSteps} steps, tv weights ${s.tvWeights.join(', ')}. All numbers are in <a href="report.json">report.json</a>; the trained model is in <code>run/</code>.`;
  const navTitle = (x: SectionSpec) =>
    `${x.title.replace(/^\d+\.\s*/, '')}${results[x.id]?.omitted ? ' (omitted)' : ''}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>convlens lab: ${esc(s.model)} on ${esc(s.dataset)}</title><style>${REPORT_CSS}</style></head>
<body><header><h1>convlens lab: ${esc(s.model)} on ${esc(s.dataset)}</h1>
<p class="meta">${meta}</p></header>
<nav><h2>Contents</h2><ol>${SECTIONS.map((x) => `<li><a href="#${x.id}">${esc(navTitle(x))}</a></li>`).join('')}</ol></nav>
<main>${sections}</main><script>${REPORT_JS}</script></body></html>
`;
}

/** "A tfjs model", "An ONNX model", "A Keras model": the report's words for where a model came from. */
function modelKindWords(kind: string): string {
  const words: Record<string, string> = {
    onnx: 'An ONNX model',
    'keras-h5': 'A Keras model',
    'keras-zip': 'A Keras model',
    'tfjs-url': 'A tfjs model',
    imported: 'An imported model',
  };
  return words[kind] ?? `A ${kind} model`;
}
