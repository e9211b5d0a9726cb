/**
 * `convlens lab`: the stages in order, each cached by a key of its settings (DIR/lab.json). Finished
 * stages are reused, --force recomputes, a killed run resumes from the last finished stage (training
 * from its last checkpoint); after every stage index.html and report.json are rewritten, so a
 * partial report is always readable. Ctrl-C stops cleanly (exit 130) and leaves the run resumable.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { initBackend } from '@convlens/core/engine/backend';
import { type JobHooks, JobStopped } from '@convlens/core/jobs/job';
import { explainMethods } from '@convlens/core/methods/explain/registry';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { ensureDir } from '../io/ensure-dir.ts';
import { emptyManifest, MANIFEST_FILE, readManifest, writeManifest } from './manifest.ts';
import { isZooModel, openPretrained, type PretrainedInputs } from './pretrained.ts';
import { PRETRAINED_STAGES, pretrainedStageKeys } from './pretrained-stages.ts';
import { buildHtml, SECTIONS } from './report-html.ts';
import { type LabOptions, type LabSettings, resolveSettings, stageKey } from './settings.ts';
import { TIMELINE_TV } from './snapshot.ts';
import { dataStage } from './stage-data.ts';
import { methodsStage, methodsStageKey } from './stage-methods.ts';
import { part1Stage } from './stage-part1.ts';
import { part2Stage } from './stage-part2.ts';
import { CAM_CONV_FILTERS, part3Stage } from './stage-part3.ts';
import { zooFeatureMapStage } from './stage-pt-feature-map.ts';
import { testStage } from './stage-test.ts';
import { trainKey, trainStage } from './stage-train.ts';
import { zooTransferStage } from './stage-zoo-transfer.ts';
import { Interrupted, type LabContext, type StageResult } from './types.ts';

export interface LabSummary {
  out: string;
  report: string;
  interrupted: boolean;
  /** Wall time, and CPU time of the whole process (all threads): on a shared machine the honest cost. */
  stages: { id: string; title: string; seconds: number; cpuSeconds?: number; cached: boolean }[];
  accuracy?: number;
  reportBytes: number;
}

/** Refuses an --out that is a file, unwritable, or a non-empty folder that is not a lab report. */
async function prepareOut(out: string): Promise<void> {
  const st = await stat(out).catch(() => undefined);
  if (st && !st.isDirectory()) throw new Error(`--out ${out}: exists and is not a directory`);
  if (st) {
    const entries = await readdir(out);
    if (entries.length > 0 && !entries.includes(MANIFEST_FILE) && !entries.includes('run'))
      throw new Error(`--out ${out}: folder is not empty and is not a convlens lab report; choose another`);
  }
  await ensureDir(out, '--out');
}

async function dirBytes(dir: string): Promise<number> {
  const st = await stat(dir);
  if (st.isFile()) return st.size;
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += (await stat(join(e.parentPath, e.name))).size;
  }
  return total;
}

function stageKeys(s: LabSettings, tk: string): Record<string, string> {
  return {
    data: stageKey('data', [s.dataset, s.seed, s.trainLimit]),
    train: stageKey('train', [
      tk,
      s.snapshotSteps,
      TIMELINE_TV,
      explainMethods().some((m) => m.id === 'gradcam'),
    ]),
    test: stageKey('test', [tk, s.testLimit, explainMethods().some((m) => m.id === 'gradcam')]),
    part1: stageKey('part1', [tk, s.statsImages, s.topK, s.activationDigits]),
    part2: stageKey('part2', [tk, s.actmaxSteps, s.tvWeights, s.filtersPerLayer]),
    part3: stageKey('part3', [
      tk,
      s.explainDigits,
      explainMethods().map((m) => m.id),
      s.camEpochs,
      CAM_CONV_FILTERS,
      s.faithfulnessImages,
      s.sanityImages,
      s.samplingSamples,
    ]),
    methods: methodsStageKey([tk, s.seed, s.quick]),
    featuremap: stageKey('featuremap', [tk, s.seed, s.quick]),
    transfer: stageKey('transfer', [tk, s.transfer ?? null, s.seed, s.quick]),
  };
}

const STAGE_FNS: Record<string, (ctx: LabContext) => Promise<StageResult>> = {
  data: dataStage,
  train: trainStage,
  test: testStage,
  part1: part1Stage,
  part2: part2Stage,
  part3: part3Stage,
  methods: methodsStage,
  featuremap: zooFeatureMapStage,
  transfer: zooTransferStage,
};

export interface LabHooks {
  /** Hooks for one long step of a stage (the CLI: a progress bar), closed when the step ends. */
  job?(label: string, unit: string): JobHooks & { close(): void };
}

export async function runLab(
  o: LabOptions,
  log: (s: string) => void,
  hooks: LabHooks = {},
): Promise<LabSummary> {
  const settings = resolveSettings(o);
  await initBackend(settings.backend);
  // A model to use as it is: opened (and its dataset) before anything is written, so bad input leaves nothing.
  const pre = isZooModel(o.model) ? undefined : await openPretrained(o, log);
  try {
    if (pre) {
      settings.pretrained = pre.settings;
      settings.model = pre.settings.source;
      settings.dataset = pre.full.name;
    }
    await prepareOut(o.out);
    return await runStages(o, settings, log, hooks, pre);
  } finally {
    pre?.dispose();
  }
}

async function runStages(
  o: LabOptions,
  settings: LabSettings,
  log: (s: string) => void,
  hooks: LabHooks,
  pre: PretrainedInputs | undefined,
): Promise<LabSummary> {
  let manifest = (await readManifest(o.out)) ?? emptyManifest();
  if (o.force) {
    manifest = emptyManifest();
    await rm(join(o.out, 'timeline.json'), { force: true });
  }
  let stop = false;
  const onSigint = () => {
    if (stop) process.exit(130);
    stop = true;
    log('\ninterrupt: stopping after the current step (Ctrl-C again to quit at once); re-run to resume');
  };
  process.on('SIGINT', onSigint);
  const ctx: LabContext = {
    out: o.out,
    runDir: join(o.out, 'run'),
    settings,
    dataDir: o.dataDir,
    download: o.download,
    log,
    stopRequested: () => stop,
    results: {},
    pretrained: pre,
    job: hooks.job,
  };
  const keys = pre ? pretrainedStageKeys(settings) : stageKeys(settings, trainKey(ctx));
  const stageFns = pre ? PRETRAINED_STAGES : STAGE_FNS;
  const timings: Record<string, number> = {};
  const summary: LabSummary = {
    out: o.out,
    report: join(o.out, 'index.html'),
    interrupted: false,
    stages: [],
    reportBytes: 0,
  };
  const writeReport = async () => {
    await writeJsonAtomic(join(o.out, 'report.json'), {
      format: 'convlens-lab-report',
      generatedAt: new Date().toISOString(),
      settings,
      stages: Object.fromEntries(
        SECTIONS.filter((s) => ctx.results[s.id]).map((s) => [
          s.id,
          {
            title: s.title,
            seconds: timings[s.id],
            ...(ctx.results[s.id].omitted ? { omitted: ctx.results[s.id].omitted } : {}),
            numbers: ctx.results[s.id].numbers,
          },
        ]),
      ),
    });
    await writeFileAtomic(join(o.out, 'index.html'), buildHtml(settings, ctx.results, timings));
  };
  try {
    for (const [i, sec] of SECTIONS.entries()) {
      const cached = manifest.stages[sec.id];
      const head = `lab [${i + 1}/${SECTIONS.length}] ${sec.title}`;
      if (cached && cached.key === keys[sec.id]) {
        ctx.results[sec.id] = cached.result;
        timings[sec.id] = cached.seconds;
        summary.stages.push({ id: sec.id, title: sec.title, seconds: cached.seconds, cached: true });
        log(`${head}: cached (${cached.seconds.toFixed(1)} s when computed)`);
        continue;
      }
      if (stop) throw new Interrupted();
      log(`${head} …`);
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      const result = await stageFns[sec.id](ctx).catch((err) => {
        throw err instanceof JobStopped ? new Interrupted() : err;
      });
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const cpuSeconds = (cpu.user + cpu.system) / 1e6;
      ctx.results[sec.id] = result;
      timings[sec.id] = seconds;
      manifest.stages[sec.id] = { key: keys[sec.id], seconds, finishedAt: new Date().toISOString(), result };
      await writeManifest(o.out, manifest);
      await writeReport();
      summary.stages.push({ id: sec.id, title: sec.title, seconds, cpuSeconds, cached: false });
      log(`${head}: done in ${seconds.toFixed(1)} s (${cpuSeconds.toFixed(1)} s CPU)`);
    }
  } catch (err) {
    if (!(err instanceof Interrupted)) throw err;
    summary.interrupted = true;
    log(
      `interrupted: finished stages are kept in ${join(o.out, MANIFEST_FILE)}; run the same command to resume`,
    );
  } finally {
    process.off('SIGINT', onSigint);
  }
  await writeReport();
  summary.accuracy = ctx.results.test?.numbers.accuracy as number | undefined;
  // The report proper: the page, its numbers and figures (the run's model and checkpoints aside).
  summary.reportBytes = 0;
  for (const p of ['index.html', 'report.json', 'figures'])
    summary.reportBytes += await dirBytes(join(o.out, p)).catch(() => 0);
  return summary;
}
