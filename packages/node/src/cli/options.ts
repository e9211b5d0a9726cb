/** Flag parsing that fails with one line naming the flag and what is wrong with its value. */
import { InvalidArgumentError } from 'commander';

export function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1) {
      throw new InvalidArgumentError(`${name} must be a positive integer, got '${v}'`);
    }
    return n;
  };
}

export function nonNegativeInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) {
      throw new InvalidArgumentError(`${name} must be a non-negative integer, got '${v}'`);
    }
    return n;
  };
}

export function positiveNumber(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n <= 0) {
      throw new InvalidArgumentError(`${name} must be a positive number, got '${v}'`);
    }
    return n;
  };
}

export function numberIn(name: string, lo: number, hi: number, hiOpen = false) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < lo || (hiOpen ? n >= hi : n > hi)) {
      throw new InvalidArgumentError(
        `${name} must be a number in [${lo}, ${hi}${hiOpen ? ')' : ']'}, got '${v}'`,
      );
    }
    return n;
  };
}

export function oneOf<T extends string>(name: string, values: readonly T[]) {
  return (v: string): T => {
    if (!values.includes(v as T)) {
      throw new InvalidArgumentError(`unknown ${name} '${v}' (expected one of: ${values.join(', ')})`);
    }
    return v as T;
  };
}
