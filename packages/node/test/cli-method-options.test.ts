// The explain method-option flags: --opt values typed (numbers, booleans, lists), the CAM flags
// added only when given, and a malformed --opt or unknown --fusion refused in one line.
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { type MethodOptionFlags, methodOptionFlags, methodOptions } from '../src/cli/method-options.ts';

function parse(args: string[]): Record<string, unknown> {
  const cmd = methodOptionFlags(new Command('x').exitOverride().configureOutput({ writeErr: () => {} }));
  cmd.parse(args, { from: 'user' });
  return methodOptions(cmd.opts<MethodOptionFlags>());
}

describe('explain method-option flags', () => {
  it('types --opt values and adds the CAM flags that were given', () => {
    expect(parse([])).toEqual({});
    expect(
      parse(['--opt', 'batch=32', '--opt', 'classes=5,7', '--opt', 'similarity=weight', '--opt', 'x=true']),
    ).toEqual({ batch: 32, classes: [5, 7], similarity: 'weight', x: true });
    expect(parse(['--aug-smooth', '--eigen-smooth', '--fusion', 'max', '--opt', 'augScales=0.8,1'])).toEqual({
      augScales: [0.8, 1],
      augSmooth: true,
      eigenSmooth: true,
      fusion: 'max',
    });
  });

  it('refuses a malformed --opt and an unknown fusion rule', () => {
    expect(() => parse(['--opt', 'batch'])).toThrow(
      /--opt must be key=value \(e\.g\. batch=32\), got 'batch'/,
    );
    expect(() => parse(['--fusion', 'sum'])).toThrow(/Allowed choices are mean, max, min/);
  });
});
