// `npm run crds`: writes the FlashSale CRD that `kubectl apply -f crds/` installs, and the
// chart's templated copy of it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { chartCrdPath, renderChartCrd } from './chart-crd.ts';
import { crdFileName, renderCrd } from './crd.ts';

const path = join(import.meta.dirname, crdFileName);
const crd = renderCrd();
writeFileSync(path, crd);
console.log(`wrote ${path}`);

const chartPath = join(import.meta.dirname, '..', chartCrdPath);
mkdirSync(dirname(chartPath), { recursive: true });
writeFileSync(chartPath, renderChartCrd(crd));
console.log(`wrote ${chartPath}`);
