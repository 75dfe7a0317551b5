// The shared corpus of invalid FlashSales (testdata/invalid/*.yaml). Each file is a complete
// manifest, invalid in exactly one way, that `kubectl apply` can send as-is; its header names the
// field every rejection must name:
//   # field: spec.items[1].sku
//   # why: SKUs are letters, digits and . _ : -
// The standalone loader and the apiserver (with the generated CRD) are both tested against it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const invalidCorpusDir = join(import.meta.dirname, 'testdata', 'invalid');

export interface InvalidCase {
  /** File name without .yaml; also the case's metadata.name after 'invalid-' (when valid). */
  name: string;
  path: string;
  /** apiserver-style field path the error must name. */
  field: string;
  why: string;
  text: string;
}

export function invalidCorpus(): InvalidCase[] {
  return readdirSync(invalidCorpusDir)
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .map((file) => {
      const path = join(invalidCorpusDir, file);
      const text = readFileSync(path, 'utf8');
      return { name: file.slice(0, -'.yaml'.length), path, ...header(text, path), text };
    });
}

function header(text: string, path: string): { field: string; why: string } {
  const field = /^# field: (.+)$/m.exec(text)?.[1];
  const why = /^# why: (.+)$/m.exec(text)?.[1];
  if (field === undefined || why === undefined) {
    throw new Error(`${path}: the header must give '# field: ...' and '# why: ...'`);
  }
  return { field, why };
}
