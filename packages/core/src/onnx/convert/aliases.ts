/**
 * Readable names for converted layers. PyTorch's exporter names nodes by module scope,
 * `/layer4/layer4.1/relu/Relu`; each scope component is either the full dotted module name or the
 * attribute below the previous one, so the module is `layer4.1.relu`. Every module prefix names the
 * layer of its last node (`layer4` → the block's output), as Grad-CAM's `--layer layer4` expects.
 */
export function moduleName(nodeName: string): string | undefined {
  const parts = nodeName.replace(/^\/+/, '').split('/');
  if (parts.length < 2) return undefined;
  let name = '';
  for (const p of parts.slice(0, -1)) {
    if (!p) continue;
    name = !name ? p : p.startsWith(`${name}.`) ? p : `${name}.${p}`;
  }
  return name || undefined;
}

/** module name and its prefixes → layer name, the last node (in graph order) winning. */
export function moduleAliases(nodes: { name: string; layer: string }[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { name, layer } of nodes) {
    const m = moduleName(name);
    if (!m) continue;
    const pieces = m.split('.');
    for (let i = 1; i <= pieces.length; i++) out[pieces.slice(0, i).join('.')] = layer;
  }
  return out;
}
