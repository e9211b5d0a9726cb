/**
 * `npm run build:native -w convlens`: builds (or finds cached) the oneDNN addon now rather than on
 * first use, and says where it is or why it can't be built. Exits 1 when it can't.
 */
import { loadNative, nativeAddon, nativeNotice } from './native.ts';

const status = loadNative();
if (status.ok) {
  process.stdout.write(
    `convlens: native oneDNN kernels ready (${nativeAddon().threads()} threads): ${status.path}\n`,
  );
} else {
  process.stderr.write(`${nativeNotice(status)}\n`);
  process.exit(1);
}
