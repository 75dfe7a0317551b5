// The chart under test, rendered by the pinned helm: the tests read what the chart ships
// (objects, alert rules, dashboard queries, adapter rule) from here, never from a copy.
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ensureBinaries } from '../controlplane/binaries.ts';
import { runCommand, type CommandResult } from '../controlplane/commands.ts';

export const chartDir = join(import.meta.dirname, '..', '..', 'charts', 'flashguard');

/** The least a release needs: a Redis for the operator. */
export const minimalValues = { operator: { redis: { url: 'redis://redis.flashguard:6379' } } };

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

/** `helm <args>`, with `values` as a values file on stdin if given; does not throw on failure. */
export function helm(args: readonly string[], values?: object): Promise<CommandResult> {
  const bin = ensureBinaries();
  const valuesArgs = values === undefined ? [] : ['--values', '-'];
  return runCommand(bin.helm, [...args, ...valuesArgs], process.env, {
    input: values === undefined ? '' : JSON.stringify(values),
    check: false,
  });
}

/** `helm template` of the chart as release `release` in `namespace`; throws on a failure. */
export async function renderChart(
  values: object,
  { release = 'fg', namespace = 'flashguard-system' } = {},
): Promise<K8sObject[]> {
  const args = ['template', release, chartDir, '--namespace', namespace];
  const result = await helm(args, values);
  if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return parseAllDocuments(result.stdout)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

/** The one object of `kind` (named `name` when given); throws when absent or ambiguous. */
export function only(objects: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter(
    (o) => o.kind === kind && (name === undefined || o.metadata.name === name),
  );
  if (found.length !== 1) {
    const what = name === undefined ? kind : `${kind} ${name}`;
    throw new Error(`expected one ${what}, found ${String(found.length)}`);
  }
  return found[0] as K8sObject;
}

export function kinds(objects: readonly K8sObject[]): string[] {
  return objects.map((o) => o.kind).sort();
}
