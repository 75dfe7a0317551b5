// `npm run bench -- <scenario> [--json]`: runs one benchmark scenario. With --json it prints one
// JSON object per scenario on stdout (progress goes to stderr), so runs can be compared.
import { parseArgs } from 'node:util';
import { ensurePrerequisites, prerequisites } from '../e2e/support/prereqs.ts';

type Scenario = (options: { quick: boolean }) => Promise<Record<string, unknown>>;

const scenarios: Record<string, () => Promise<Scenario>> = {
  ledger: async () => (await import('./ledger.ts')).ledgerBenchmark,
  storm: async () => (await import('./storm.ts')).stormBenchmark,
  operator: async () => (await import('./operator.ts')).operatorBenchmark,
  chaos: async () => (await import('../e2e/reliability/chaos.ts')).chaosBenchmark,
};

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
  },
});

const wanted = positionals.length > 0 ? positionals : Object.keys(scenarios);
const unknown = wanted.filter((name) => !(name in scenarios));
if (unknown.length > 0) {
  console.error(
    `unknown scenario ${unknown.join(', ')}; known: ${Object.keys(scenarios).join(', ')}`,
  );
  process.exit(2);
}
ensurePrerequisites(Object.values(prerequisites));
for (const name of wanted) {
  const load = scenarios[name];
  if (load === undefined) continue;
  const result = { scenario: name, ...(await (await load())({ quick: values.quick })) };
  console.log(values.json ? JSON.stringify(result) : JSON.stringify(result, null, 2));
}
