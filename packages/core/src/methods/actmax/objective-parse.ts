/**
 * Lucid's objective algebra as text: sums, differences, products, negation and scalar weights of
 * class, channel, neuron, unit and direction objectives, e.g.
 *   "channel:conv_pw_13_relu:12 + 0.5*class:3 - neuron:dense:4"
 *   "channel:conv2:5 * channel:conv2:7"   (both at once: high only where both are)
 * Atoms: class:N | class:NAME | class:"NAME WITH SPACES"; channel:LAYER:C (filter: is the same, the
 * channel's mean over positions); neuron:LAYER:C (conv: the channel at the centre position, as Lucid;
 * dense: the unit) or neuron:LAYER:C:ROW,COL; unit:LAYER:U; direction:LAYER:v1,v2,… or
 * direction:LAYER:NAME (a named vector given by the caller, e.g. a neuron group). Products distribute
 * over sums, so the result is a polynomial: degree-1 monomials become terms, higher ones products.
 * A '-' ends an atom unless it follows ',' or ':' (so directions may hold negative values).
 */
import type * as tf from '@tensorflow/tfjs';
import { findLayer } from '../../models/layer-aliases.ts';
import type { Objective, Product, Target, Term } from './objective.ts';

export interface ParseObjectiveOptions {
  /** Class name or index text → class index (throws on unknown names). */
  classIndex?: (text: string) => number;
  /** Logit or probability for class atoms (default logit). */
  space?: 'logit' | 'probability';
  /** Named direction vectors (direction:LAYER:NAME). */
  vectors?: Record<string, number[]>;
}

/** A polynomial: monomial (sorted factor keys) → coefficient and factors. */
type Poly = Map<string, { coef: number; factors: Target[] }>;

const constant = (c: number): Poly => new Map([['', { coef: c, factors: [] }]]);

function add(a: Poly, b: Poly, sign = 1): Poly {
  const out: Poly = new Map([...a].map(([k, v]) => [k, { ...v }]));
  for (const [k, v] of b) {
    const cur = out.get(k);
    if (cur) cur.coef += sign * v.coef;
    else out.set(k, { coef: sign * v.coef, factors: v.factors });
  }
  return out;
}

function mul(a: Poly, b: Poly): Poly {
  let out: Poly = new Map();
  for (const x of a.values()) {
    for (const y of b.values()) {
      const factors = [...x.factors, ...y.factors];
      const key = factors
        .map((f) => JSON.stringify(f))
        .sort()
        .join('*');
      out = add(out, new Map([[key, { coef: x.coef * y.coef, factors }]]));
    }
  }
  return out;
}

const KINDS = ['class', 'channel', 'filter', 'neuron', 'unit', 'direction'];

type Token = { t: 'num'; v: number } | { t: 'atom'; v: string } | { t: 'op'; v: string };

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (/\s/.test(ch)) {
      i++;
    } else if ('+-*()'.includes(ch)) {
      out.push({ t: 'op', v: ch });
      i++;
    } else if (/[0-9.]/.test(ch)) {
      const m = /^(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.exec(text.slice(i));
      if (!m) throw new Error(`objective: bad number at '${text.slice(i, i + 12)}'`);
      out.push({ t: 'num', v: Number(m[0]) });
      i += m[0].length;
    } else {
      let j = i;
      let quoted = false;
      while (j < text.length) {
        const c = text[j];
        if (c === '"') quoted = !quoted;
        else if (!quoted && (/\s/.test(c) || '+*()'.includes(c))) break;
        else if (!quoted && c === '-' && !',:'.includes(text[j - 1])) break;
        j++;
      }
      if (quoted) throw new Error(`objective: unclosed quote in '${text.slice(i)}'`);
      out.push({ t: 'atom', v: text.slice(i, j) });
      i = j;
    }
  }
  return out;
}

function layerShape(model: tf.LayersModel, name: string, atom: string): { name: string; shape: number[] } {
  const layer = findLayer(model, name);
  if (!layer) throw new Error(`objective '${atom}': no layer '${name}' in model '${model.name}'`);
  return { name: layer.name, shape: (layer.outputShape as number[]).slice(1) };
}

function atomTarget(atom: string, model: tf.LayersModel, o: ParseObjectiveOptions): Target {
  const colon = atom.indexOf(':');
  const kind = colon < 0 ? '' : atom.slice(0, colon);
  if (!KINDS.includes(kind))
    throw new Error(
      `objective: '${atom}' is not an objective (use ${KINDS.map((k) => `${k}:…`).join(', ')})`,
    );
  const rest = atom.slice(colon + 1);
  const int = (s: string, what: string) => {
    if (!/^\d+$/.test(s))
      throw new Error(`objective '${atom}': ${what} must be a non-negative integer, got '${s}'`);
    return Number(s);
  };
  if (kind === 'class') {
    const name = rest.replace(/^"(.*)"$/, '$1');
    const index = o.classIndex ? o.classIndex(name) : int(name, 'class');
    return { kind: 'class', index, space: o.space ?? 'logit' };
  }
  const parts = rest.split(':');
  if (kind === 'neuron' && parts.length >= 3 && parts[parts.length - 1].includes(',')) {
    const [r, c] = parts.pop()!.split(',');
    const index = int(parts.pop()!, 'channel');
    const { name } = layerShape(model, parts.join(':'), atom);
    return { kind: 'filter', layer: name, index, position: [int(r, 'row'), int(c, 'column')] };
  }
  if (parts.length < 2) throw new Error(`objective '${atom}': expected ${kind}:LAYER:…`);
  const arg = parts.pop()!;
  const { name, shape } = layerShape(model, parts.join(':'), atom);
  if (kind === 'direction') {
    const named = o.vectors?.[arg];
    const vector = named ?? arg.split(',').map(Number);
    if (!named && (arg === '' || vector.some((v) => !Number.isFinite(v))))
      throw new Error(`objective '${atom}': a direction is comma-separated numbers or a known name`);
    return { kind: 'direction', layer: name, index: 0, vector };
  }
  const index = int(arg, kind === 'unit' ? 'unit' : 'channel');
  if (kind === 'unit') return { kind: 'unit', layer: name, index };
  if (kind === 'neuron') {
    if (shape.length === 1) return { kind: 'unit', layer: name, index };
    return {
      kind: 'filter',
      layer: name,
      index,
      position: [Math.floor(shape[0] / 2), Math.floor(shape[1] / 2)],
    };
  }
  return { kind: 'filter', layer: name, index };
}

/** Parses an objective expression into an Objective (validated against the model later, by compile). */
export function parseObjective(
  text: string,
  model: tf.LayersModel,
  o: ParseObjectiveOptions = {},
): Objective {
  const tokens = tokenize(text);
  let pos = 0;
  const peek = () => tokens[pos];
  const fail = (what: string): never => {
    throw new Error(`objective '${text}': ${what}`);
  };
  const factor = (): Poly => {
    const tk = tokens[pos++];
    if (!tk) return fail('ends too early');
    if (tk.t === 'op' && tk.v === '-') return mul(constant(-1), factor());
    if (tk.t === 'op' && tk.v === '+') return factor();
    if (tk.t === 'num') return constant(tk.v);
    if (tk.t === 'atom') {
      const target = atomTarget(tk.v, model, o);
      return new Map([[JSON.stringify(target), { coef: 1, factors: [target] }]]);
    }
    if (tk.v === '(') {
      const inner = sum();
      if (peek()?.v !== ')') fail("missing ')'");
      pos++;
      return inner;
    }
    return fail(`unexpected '${tk.v}'`);
  };
  const product = (): Poly => {
    let p = factor();
    while (peek()?.t === 'op' && peek().v === '*') {
      pos++;
      p = mul(p, factor());
    }
    return p;
  };
  const sum = (): Poly => {
    let p = product();
    while (peek()?.t === 'op' && (peek().v === '+' || peek().v === '-')) {
      const sign = peek().v === '-' ? -1 : 1;
      pos++;
      p = add(p, product(), sign);
    }
    return p;
  };
  if (tokens.length === 0) fail('empty');
  const poly = sum();
  if (pos < tokens.length) fail(`unexpected '${String(tokens[pos].v)}'`);
  const terms: Term[] = [];
  const products: Product[] = [];
  for (const { coef, factors } of poly.values()) {
    if (coef === 0 || factors.length === 0) continue; // constants do not change the image
    if (factors.length === 1) terms.push({ ...factors[0], ...(coef === 1 ? {} : { weight: coef }) });
    else products.push({ weight: coef, factors });
  }
  if (terms.length === 0 && products.length === 0) fail('has no objective terms (only constants)');
  return products.length ? { terms, products } : { terms };
}
