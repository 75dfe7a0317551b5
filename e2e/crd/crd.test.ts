// The generated FlashSale CRD on a real apiserver: installed the way users install it, it stores
// what the spec's validator accepts with the same defaults, rejects the shared invalid corpus
// naming the same field the standalone loader names, explains itself and has a status
// subresource.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { FlashSaleSpecSchema, plainSchema, validateFlashSale } from '../../api/v1alpha1/index.ts';
import { invalidCorpus, invalidCorpusDir } from '../../api/v1alpha1/corpus.ts';
import { crdName } from '../../crds/crd.ts';
import { startControlPlane, type ControlPlane } from '../controlplane/controlplane.ts';
import { waitFor } from '../support/process.ts';

const root = join(import.meta.dirname, '..', '..');
const crdsDir = join(root, 'crds');
const examplesDir = join(root, 'examples');

interface Stored {
  metadata: { name: string; generation: number };
  spec: unknown;
  status?: Record<string, unknown>;
}

interface Manifest {
  metadata: { name: string; namespace?: string };
  spec: { window: { start: string } };
}

const examples = readdirSync(examplesDir)
  .filter((file) => file.endsWith('.yaml'))
  .map((file) => ({ file, doc: parse(readFileSync(join(examplesDir, file), 'utf8')) as Manifest }));

/** The apiserver's per-file messages from one `kubectl create -f dir`, by file name. */
function rejectionsByFile(stderr: string): Map<string, string> {
  const byFile = new Map<string, string>();
  for (const line of stderr.split('\n')) {
    const match = /^Error from server \(\w+\): error when creating "(.+?)": (.*)$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) {
      byFile.set(basename(match[1], '.yaml'), match[2]);
    }
  }
  return byFile;
}

/** The fields an apiserver Invalid message names ('spec.items[1].sku: Invalid value: ...'). */
function fieldsNamed(message: string): string[] {
  const causes = message.slice(message.indexOf(' is invalid: '));
  const named = causes.matchAll(/(?:: \[?|, )((?:metadata|spec|status)(?:\.\w+|\[\d+\])*): /g);
  return [...new Set([...named].map((m) => m[1] ?? ''))];
}

void describe('the FlashSale CRD on a real apiserver', () => {
  let cp: ControlPlane;
  const getSale = async (name: string): Promise<Stored> =>
    JSON.parse((await cp.kubectl(['get', 'flashsale', name, '-o', 'json'])).stdout) as Stored;

  before(async () => {
    cp = await startControlPlane();
    await cp.kubectl(['apply', '-f', crdsDir]); // what the README tells users to run
    await cp.kubectl(['wait', '--for=condition=Established', `crd/${crdName}`, '--timeout=30s']);
  });
  after(() => cp.stop());

  void it('is accepted as structural, and its short name is no other resource’s', async () => {
    const crd = JSON.parse((await cp.kubectl(['get', 'crd', crdName, '-o', 'json'])).stdout) as {
      status: { conditions: { type: string; status: string }[] };
    };
    const conditions = Object.fromEntries(crd.status.conditions.map((c) => [c.type, c.status]));
    assert.equal(conditions.NamesAccepted, 'True');
    assert.equal(conditions.NonStructuralSchema, undefined);

    const { stdout } = await cp.kubectl(['api-resources', '--no-headers']);
    const owners = stdout
      .split('\n')
      .filter((line) => line.split(/\s+/).some((column) => column.split(',').includes('fs')))
      .map((line) => line.split(/\s+/)[0]);
    assert.deepEqual(owners, ['flashsales']);
    const inCategory = await cp.kubectl(['get', 'flashguard', '-A', '-o', 'name']);
    assert.equal(inCategory.code, 0);
  });

  void it('stores every example exactly as validateFlashSale defaults it', async () => {
    const namespaces = new Set(examples.map(({ doc }) => doc.metadata.namespace ?? 'default'));
    namespaces.delete('default');
    for (const namespace of namespaces) await cp.kubectl(['create', 'namespace', namespace]);
    await cp.kubectl(['create', '-f', examplesDir]);

    const { stdout } = await cp.kubectl(['get', 'flashsales', '-A', '-o', 'json']);
    const stored = (JSON.parse(stdout) as { items: Stored[] }).items;
    assert.equal(stored.length, examples.length);
    for (const { file, doc } of examples) {
      const ours = validateFlashSale(doc);
      assert.ok(ours.ok, file);
      const theirs = stored.find((s) => s.metadata.name === doc.metadata.name);
      assert.ok(theirs, `${file} not stored`);
      assert.deepEqual(theirs.spec, ours.value.spec, `${file}: apiserver and validator defaults`);
      assert.equal(theirs.status, undefined);
    }
  });

  void describe('the shared invalid corpus', () => {
    const corpus = invalidCorpus();
    let rejections = new Map<string, string>();
    before(async () => {
      // One kubectl call for the whole corpus: it reports each file's error and goes on.
      const { stderr } = await cp.kubectl(['create', '-f', invalidCorpusDir], { check: false });
      rejections = rejectionsByFile(stderr);
    });

    for (const c of corpus) {
      void it(`invalid/${c.name}: rejected naming ${c.field} only`, () => {
        const message = rejections.get(c.name);
        assert.ok(message !== undefined, 'accepted');
        // Invalid in exactly one way: the apiserver names that field and no other.
        assert.deepEqual(fieldsNamed(message), [c.field], message);
      });
    }
  });

  void it('explains spec.window with the descriptions of the spec', async () => {
    const window = plainSchema(FlashSaleSpecSchema).properties?.window;
    const expected = [window, window?.properties?.start, window?.properties?.end].map(
      (node) => node?.description ?? assert.fail('spec.window is not described'),
    );
    // The CRD's OpenAPI is published a moment after it is Established.
    const text = await waitFor('kubectl explain flashsales.spec.window', async () => {
      const result = await cp.kubectl(['explain', 'flashsales.spec.window'], { check: false });
      return result.code === 0 ? result.stdout.replace(/\s+/g, ' ') : undefined;
    });
    for (const description of expected) assert.ok(text.includes(description), text);
    assert.match(text, /start <string> -required-/);
  });

  void describe('status', () => {
    const minimal = examples.find(({ file }) => file === 'minimal.yaml')?.doc;
    before(async () => {
      assert.ok(minimal);
      const probe = { ...minimal, metadata: { name: 'status-probe' } };
      await cp.kubectl(['create', '-f', '-'], { input: JSON.stringify(probe) });
    });

    const patch = (body: object, ...extra: string[]) =>
      cp.kubectl(
        [
          'patch',
          'flashsale',
          'status-probe',
          '--type=merge',
          '-p',
          JSON.stringify(body),
          ...extra,
        ],
        { check: false },
      );

    void it('is written through the status subresource, without a new generation', async () => {
      const written = await patch(
        { status: { phase: 'Active', stock: 50, sold: 3 } },
        '--subresource=status',
      );
      assert.equal(written.code, 0, written.stderr);
      const sale = await getSale('status-probe');
      assert.deepEqual(sale.status, { phase: 'Active', stock: 50, sold: 3 });
      assert.equal(sale.metadata.generation, 1);

      // Through the main resource a status change is dropped: only the operator sets status.
      await patch({ status: { phase: 'Ended' } });
      assert.equal((await getSale('status-probe')).status?.phase, 'Active');
    });

    void it('is validated against the status schema', async () => {
      const rejected = await patch({ status: { phase: 'Paused' } }, '--subresource=status');
      assert.notEqual(rejected.code, 0);
      assert.match(rejected.stderr, /status\.phase: Unsupported value: "Paused"/);
    });

    void it('keeps its value while a spec change bumps the generation', async () => {
      const edited = await patch({ spec: { limits: { burst: 6 } } });
      assert.equal(edited.code, 0, edited.stderr);
      const sale = await getSale('status-probe');
      assert.equal(sale.metadata.generation, 2);
      assert.equal(sale.status?.phase, 'Active');
    });

    void it('is what kubectl get prints, beside the window start', async () => {
      const { stdout } = await cp.kubectl(['get', 'fs', 'status-probe']);
      const [header, row] = stdout
        .trim()
        .split('\n')
        .map((line) => line.trim().split(/\s+/));
      assert.deepEqual(header, ['NAME', 'PHASE', 'SOLD', 'STOCK', 'START', 'AGE']);
      assert.deepEqual(row?.slice(0, 5), [
        'status-probe',
        'Active',
        '3',
        '50',
        minimal?.spec.window.start,
      ]);
    });
  });
});
