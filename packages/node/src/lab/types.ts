/** What stages produce and share: figures (files under DIR/figures) and numbers for report.json. */
import type { JobHooks } from '@convlens/core/jobs/job';
import type { PretrainedInputs } from './pretrained.ts';
import type { LabSettings } from './settings.ts';

export interface Figure {
  /** Path relative to the report directory, e.g. figures/train/curves.png. */
  src: string;
  title: string;
  caption?: string;
  width: number;
  height: number;
  /** Sub-heading the figure is shown under (figures of one group stay together). */
  group?: string;
  /** A photo-like figure: let the browser smooth it when it scales it (pixel art stays pixelated). */
  smooth?: boolean;
}

/** A group of images shown with a slider (the training timeline): frames[i] belongs to labels[i]. */
export interface Timeline {
  id: string;
  title: string;
  caption: string;
  labels: string[];
  frames: Figure[];
}

export interface StageResult {
  figures: Figure[];
  timelines?: Timeline[];
  /** Extra prose for the report (plain text paragraphs). */
  notes?: string[];
  /** A table (header + rows) shown in the report. */
  tables?: { title: string; header: string[]; rows: (string | number)[][] }[];
  numbers: Record<string, unknown>;
  /** Set when the section does not apply to this run: the one line saying why (shown instead). */
  omitted?: string;
}

export interface LabContext {
  out: string;
  /** DIR/run: a normal convlens run directory, usable by every other command. */
  runDir: string;
  settings: LabSettings;
  dataDir?: string;
  download?: boolean;
  log(s: string): void;
  /** Set by Ctrl-C: stages check it between units of work. */
  stopRequested(): boolean;
  /** Results of earlier stages of this run. */
  results: Record<string, StageResult>;
  /** A model used as given (no training) and its dataset: set for the pretrained stages. */
  pretrained?: PretrainedInputs;
  /** Job hooks for one long step of a stage (a progress bar on the CLI), closed when it ends. */
  job?(label: string, unit: string): JobHooks & { close(): void };
}

export class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}
