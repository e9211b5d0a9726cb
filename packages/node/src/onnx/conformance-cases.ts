/**
 * ONNX's own backend tests as Debian's libonnx-testdata installs them: one folder per test with
 * model.onnx and test_data_set_N with input_K.pb and output_K.pb. Lists them and loads a case for the converter's
 * conformance test.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OnnxGraph, OnnxTensor } from '@convlens/core/onnx/graph';
import { parseOnnxModel, parseOnnxTensor } from '@convlens/core/onnx/parse';

export const ONNX_TESTDATA = '/usr/share/libonnx-testdata/data';
export const SUITES = ['node', 'pytorch-converted', 'pytorch-operator', 'simple'] as const;

export interface OnnxCase {
  suite: string;
  name: string;
  dir: string;
}

export function listOnnxCases(root = ONNX_TESTDATA): OnnxCase[] {
  return SUITES.flatMap((suite) => {
    const d = join(root, suite);
    if (!existsSync(d)) return [];
    return readdirSync(d)
      .filter((n) => n.startsWith('test_') && existsSync(join(d, n, 'model.onnx')))
      .sort()
      .map((name) => ({ suite, name, dir: join(d, name) }));
  });
}

export interface LoadedCase {
  graph: OnnxGraph;
  inputs: OnnxTensor[];
  outputs: OnnxTensor[];
}

const numbered = (files: string[], prefix: string) =>
  files
    .filter((f) => f.startsWith(prefix) && f.endsWith('.pb'))
    .sort(
      (a, b) => Number.parseInt(a.slice(prefix.length), 10) - Number.parseInt(b.slice(prefix.length), 10),
    );

/** The model and its first data set. */
export function loadOnnxCase(c: OnnxCase): LoadedCase {
  const graph = parseOnnxModel(readFileSync(join(c.dir, 'model.onnx')));
  const set = join(c.dir, 'test_data_set_0');
  const files = existsSync(set) ? readdirSync(set) : [];
  const read = (f: string) => parseOnnxTensor(readFileSync(join(set, f)));
  return {
    graph,
    inputs: numbered(files, 'input_').map(read),
    outputs: numbered(files, 'output_').map(read),
  };
}
