/**
 * The explain methods' option flags: the CAM base's --aug-smooth, --eigen-smooth and --fusion (every
 * CAM method takes them), and --opt key=value for any method's own option (batch, seed, k, contrast,
 * samples, …), parsed into the one options object tasks/explain.ts hands every method.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';

export interface MethodOptionFlags {
  augSmooth?: boolean;
  eigenSmooth?: boolean;
  fusion?: string;
  opt?: Record<string, unknown>;
}

/** '3' → 3, 'true' → true, '0.9,1,1.1' → [0.9, 1, 1.1], anything else stays a string. */
function parseValue(v: string): unknown {
  const one = (s: string): unknown => {
    const t = s.trim();
    if (t === 'true' || t === 'false') return t === 'true';
    return t !== '' && Number.isFinite(Number(t)) ? Number(t) : t;
  };
  return v.includes(',') ? v.split(',').map(one) : one(v);
}

function collectOpt(v: string, prev: Record<string, unknown> = {}): Record<string, unknown> {
  const m = /^([A-Za-z][A-Za-z0-9]*)=(.+)$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`--opt must be key=value (e.g. batch=32), got '${v}'`);
  return { ...prev, [m[1]]: parseValue(m[2]) };
}

export function methodOptionFlags(cmd: Command): Command {
  return cmd
    .option(
      '--aug-smooth',
      'CAM methods: average the map over horizontal flips × zooms 0.9, 1, 1.1 of the input, each mapped back (6 passes)',
    )
    .option(
      '--eigen-smooth',
      'CAM methods: first principal component of the weighted activations instead of their channel sum',
    )
    .addOption(
      new Option('--fusion <rule>', 'CAM methods with --layer a,b,c: how the layers’ maps combine').choices([
        'mean',
        'max',
        'min',
      ]),
    )
    .option(
      '--opt <key=value>',
      'a method option, repeatable: batch=32 (Ablation-/Score-CAM), k=1.5 (FEM), contrast=2 or classes=5,7 (Finer-CAM), seed=3 (RandomCAM), augScales=0.8,1',
      collectOpt,
    );
}

/** The options object for the methods: --opt values, then the CAM flags that were given. */
export function methodOptions(o: MethodOptionFlags): Record<string, unknown> {
  return {
    ...o.opt,
    ...(o.augSmooth ? { augSmooth: true } : {}),
    ...(o.eigenSmooth ? { eigenSmooth: true } : {}),
    ...(o.fusion ? { fusion: o.fusion } : {}),
  };
}
