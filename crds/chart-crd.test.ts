// The chart's CRD template is what the committed CRD generates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chartCrdPath, renderChartCrd } from './chart-crd.ts';
import { crdFileName } from './crd.ts';

test(`${chartCrdPath} is what crds/${crdFileName} generates (else run \`npm run crds\`)`, () => {
  const crd = readFileSync(join(import.meta.dirname, crdFileName), 'utf8');
  const chart = readFileSync(join(import.meta.dirname, '..', chartCrdPath), 'utf8');
  assert.equal(chart, renderChartCrd(crd), `${chartCrdPath} is stale: run \`npm run crds\``);
});

test('a CRD text Helm would read as a template stops the generator', () => {
  const crd = readFileSync(join(import.meta.dirname, crdFileName), 'utf8');
  assert.throws(
    () => renderChartCrd(crd.replace(/description: '/, "description: '{{ oops }} ")),
    /escape it for Helm/,
  );
});
