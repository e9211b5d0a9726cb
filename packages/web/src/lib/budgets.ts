/**
 * Interactive budgets for the explorer's expensive methods. Core's defaults are sized for offline
 * photos (hundreds of model passes: MobileNet 0.75 in the browser took 120 s for all methods); on
 * inputs larger than 64 px a side the page runs each of these at a smaller budget first, shows the
 * budget next to the map, and offers "refine" (the same method at core's default budget, spelled out
 * so the caption can name it). Small inputs (MNIST-size) run core's defaults: they are fast there.
 * Every budget is an option the core method already has; nothing is degraded without a caption.
 */

export interface BudgetLevel {
  /** Options passed to the method (core's option names). */
  options: Record<string, unknown>;
  /** What those options mean, for the caption: "8 noisy samples". */
  label: string;
}

export interface MethodBudget {
  explorer: BudgetLevel;
  full: BudgetLevel;
}

/** Core's SLIC default (superpixels.ts): about 50 segments. */
const SEGMENTS = 50;

/**
 * Budget levels per method id for an h×w input (null: the method runs core's defaults, no refine).
 * Chosen so MobileNet v1 0.75 at 224² runs every method within ~30 s on 2 cores (wasm, SIMD, threads),
 * each expensive method a few seconds at most, while each map keeps its character.
 */
export function methodBudget(id: string, h: number, w: number): MethodBudget | null {
  if (Math.max(h, w) <= 64) return null;
  const occPatch = Math.max(2, Math.round(Math.min(h, w) / 7));
  const level = (options: Record<string, unknown>, label: string): BudgetLevel => ({ options, label });
  switch (id) {
    case 'smoothgrad':
      return {
        explorer: level({ samples: 6 }, '6 noisy samples'),
        full: level({ samples: 25 }, '25 noisy samples'),
      };
    case 'smoothgrad-sq':
    case 'vargrad':
      return {
        explorer: level({ samples: 4 }, '4 noisy samples'),
        full: level({ samples: 10 }, '10 noisy samples'),
      };
    case 'gradient-shap':
      return {
        explorer: level({ samples: 4 }, '4 samples'),
        full: level({ samples: 8 }, '8 samples'),
      };
    case 'expected-gradients':
      return {
        explorer: level({ samples: 4 }, '4 samples'),
        full: level({ samples: 10 }, '10 samples'),
      };
    case 'ig':
      return {
        explorer: level({ steps: 12 }, '12 path steps'),
        full: level({ steps: 64 }, '64 path steps'),
      };
    case 'layer-conductance':
      return {
        explorer: level({ steps: 8 }, '8 path steps'),
        full: level({ steps: 32 }, '32 path steps'),
      };
    case 'deeplift-shap':
      return {
        explorer: level({ references: 1 }, '1 noise reference'),
        full: level({ references: 4 }, '4 noise references'),
      };
    case 'occlusion':
      return {
        // Non-overlapping windows: 7×7 = 49 passes instead of 13×13 = 169.
        explorer: level({ patch: occPatch, stride: occPatch }, `${occPatch}px windows, stride ${occPatch}`),
        full: level(
          { patch: occPatch, stride: Math.floor(occPatch / 2) },
          `${occPatch}px windows, stride ${Math.floor(occPatch / 2)}`,
        ),
      };
    case 'feature-ablation':
      return {
        explorer: level({ nSegments: 25 }, '~25 superpixels'),
        full: level({ nSegments: SEGMENTS }, `~${SEGMENTS} superpixels`),
      };
    case 'shapley-sampling':
      return {
        explorer: level({ permutations: 1, nSegments: 25 }, '1 order of ~25 superpixels'),
        full: level({ permutations: 4, nSegments: SEGMENTS }, `4 orders of ~${SEGMENTS} superpixels`),
      };
    case 'rise':
      return {
        explorer: level({ masks: 48 }, '48 masks'),
        full: level({ masks: 256 }, '256 masks'),
      };
    case 'kernel-shap':
      return {
        explorer: level({ samples: 48, nSegments: 25 }, '48 coalitions of ~25 superpixels'),
        full: level(
          { samples: 2 * SEGMENTS + 2048, nSegments: SEGMENTS },
          `${2 * SEGMENTS + 2048} coalitions of ~${SEGMENTS} superpixels`,
        ),
      };
    case 'lime':
      return {
        explorer: level({ samples: 48, nSegments: 25 }, '48 samples of ~25 superpixels'),
        full: level({ samples: 500, nSegments: SEGMENTS }, `500 samples of ~${SEGMENTS} superpixels`),
      };
    case 'scorecam':
      return {
        // Faster-Score-CAM (core's `channels`): the warning under the map names it too.
        explorer: level({ channels: 24 }, '24 channels (Faster-Score-CAM)'),
        full: level({}, 'every channel'),
      };
    default:
      return null;
  }
}
