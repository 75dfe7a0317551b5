// `npm run crds`: writes the FlashSale CRD that `kubectl apply -f crds/` installs.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crdFileName, renderCrd } from './crd.ts';

const path = join(import.meta.dirname, crdFileName);
writeFileSync(path, renderCrd());
console.log(`wrote ${path}`);
