/**
 * The PyTorch CPU peer (../shared/bench/peer_torch.py), run with Debian's python3 (a pyenv python3
 * earlier on PATH cannot see Debian's torch). Runs after convlens's own timing, never concurrently.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export interface PeerResult {
  peer: string;
  torch: string;
  threads: number;
  blas: string;
  forward_img_s: number;
  train_img_s: number;
  input_grad_img_s: number;
  actmax_steps_s?: number;
  /** Grad-CAM of one image at the last conv layer, milliseconds. */
  gradcam_ms?: number;
  [k: string]: unknown;
}

export const PEER_PYTHON = '/usr/bin/python3';

/** Finds peer_torch.py: $CONVLENS_PEER, else shared/bench beside the repo (or beside cwd). */
export function findPeerScript(cwd = process.cwd()): string | undefined {
  const candidates = [
    process.env.CONVLENS_PEER,
    resolve(cwd, '../shared/bench/peer_torch.py'),
    resolve(cwd, 'shared/bench/peer_torch.py'),
  ].filter((p): p is string => !!p);
  return candidates.find((p) => existsSync(p));
}

export function runPeer(script: string, reps = 5): Promise<PeerResult> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      PEER_PYTHON,
      [script, '--json', '--reps', String(reps)],
      { timeout: 600_000, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          const why = /No module named 'torch'/.test(stderr)
            ? `${PEER_PYTHON} cannot import torch (apt-get install python3-torch libopenblas0-openmp)`
            : (stderr.trim().split('\n').at(-1) ?? err.message);
          reject(new Error(`peer benchmark unavailable: ${why}`));
          return;
        }
        try {
          resolvePromise(JSON.parse(stdout.trim().split('\n').at(-1) ?? ''));
        } catch {
          reject(new Error(`peer benchmark printed no JSON: ${stdout.slice(0, 200)}`));
        }
      },
    );
  });
}
