// The chart's monitoring, against real Prometheus tooling: its alert rules pass `promtool check
// rules` and fire as intended on hand-written series (`promtool test rules`); every alert
// expression and dashboard query evaluates without error in a real Prometheus scraping real
// sidecars under load; and the prometheus-adapter rule from the chart's values, rendered as the
// adapter renders it, returns each pod's request rate. Everything is read from the rendered
// chart, never copied here.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { specDefaults } from '../../api/v1alpha1/index.ts';
import { runCommand } from '../controlplane/commands.ts';
import { ensurePrerequisites, prerequisites } from '../support/prereqs.ts';
import { removeOnExit, waitFor } from '../support/process.ts';
import { startPrometheus, type RunningPrometheus } from '../support/prometheus.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import {
  flashSale,
  startShop,
  startSidecar,
  type RunningShop,
  type RunningSidecar,
} from '../support/sidecar.ts';
import { chartDir, helm, minimalValues, only, renderChart, type K8sObject } from './chart.ts';

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
interface RuleGroups {
  groups: { name: string; rules: AlertRule[] }[];
}
interface Dashboard {
  templating: { list: { name: string; type: string; query?: { query: string } }[] };
  panels: { title: string; targets: { expr: string }[] }[];
}
interface AdapterRule {
  seriesQuery: string;
  resources: { overrides: Record<string, { resource: string }> };
  name: { matches: string; as: string };
  metricsQuery: string;
}

const pods = [
  { name: 'checkout-0', perSecond: 20 },
  { name: 'checkout-1', perSecond: 10 },
];
const loadSeconds = 80;
/** The adapter rule's rate matches the pace the test measured within this fraction. */
const rateTolerance = 0.1;

/** Expands the `{{ $labels.x }}` and `{{ $value }}` of an alert annotation as Prometheus does. */
function expand(text: string, labels: Record<string, string>, value: string): string {
  return text.replace(/\{\{\s*\$(labels\.(\w+)|value)\s*\}\}/g, (_, __, label?: string) => {
    if (label === undefined) return value;
    const found = labels[label];
    if (found === undefined) throw new Error(`"${text}" uses $labels.${label}, which it lacks`);
    return found;
  });
}

function minutes(duration: string | undefined): number {
  const m = /^(\d+)([smh])$/.exec(duration ?? '0s');
  if (m === null) throw new Error(`unexpected duration ${String(duration)}`);
  return Number(m[1]) * { s: 1 / 60, m: 1, h: 60 }[m[2] as 's' | 'm' | 'h'];
}

/** Grafana's variables as Grafana would fill them for this test's namespace and sale. */
function grafanaQuery(expr: string, sale: string): string {
  return expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$namespace', 'shop')
    .replaceAll('$sale', sale);
}

/** The metric names a PromQL expression reads. */
function metricNames(expr: string): string[] {
  return [...new Set(expr.match(/\bflashguard_[a-z_]+/g) ?? [])];
}

void describe("the chart's alerts, dashboard and adapter rule against real Prometheus", () => {
  let dir: string;
  let forgetDir: () => void;
  let rulesFile: string;
  let rules: AlertRule[];
  let dashboard: Dashboard;

  before(async () => {
    ensurePrerequisites([prerequisites.prometheus, prerequisites.promtool]);
    dir = mkdtempSync(join(tmpdir(), 'flashguard-chart-prom-'));
    forgetDir = removeOnExit(dir);
    const objects = await renderChart({
      ...minimalValues,
      prometheusRule: { enabled: true, alertLabels: { team: 'shop' } },
      dashboard: { enabled: true },
    });
    const groups = (only(objects, 'PrometheusRule') as K8sObject & { spec: RuleGroups }).spec;
    rules = groups.groups.flatMap((g) => g.rules);
    rulesFile = join(dir, 'rules.json');
    writeFileSync(rulesFile, JSON.stringify(groups));
    const configMap = only(objects, 'ConfigMap') as K8sObject & { data: Record<string, string> };
    dashboard = JSON.parse(configMap.data['flashguard.json'] ?? '') as Dashboard;
  });
  after(() => {
    forgetDir();
    rmSync(dir, { recursive: true, force: true });
  });

  void it('passes promtool check rules', async () => {
    const result = await runCommand('promtool', ['check', 'rules', rulesFile], process.env, {
      check: false,
    });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, new RegExp(`SUCCESS: ${String(rules.length)} rules found`));
  });

  void it('fires each alert on its own condition only (promtool test rules)', async () => {
    const rule = (name: string): AlertRule => {
      const found = rules.find((r) => r.alert === name);
      if (found === undefined) throw new Error(`the chart has no alert ${name}`);
      return found;
    };
    const samples = 60; // one a minute
    const series = (labels: string, values: string) => ({ series: labels, values });
    const sidecar = (pod: string) => `namespace="shop",pod="${pod}",job="sidecars"`;
    const units = (instance: string, sku: string, counts: Record<string, number>) =>
      Object.entries(counts).map(([state, n]) =>
        series(
          `flashguard_ledger_units{instance="${instance}",job="operator",sale="shop/launch",sku="${sku}",state="${state}"}`,
          `${String(n)}x${String(samples)}`,
        ),
      );
    const input = [
      series(`flashguard_ledger_up{${sidecar('checkout-0')}}`, `1 0x${String(samples)}`),
      series(`flashguard_ledger_up{${sidecar('checkout-1')}}`, `1x${String(samples)}`),
      series(
        `flashguard_breaker_state{${sidecar('checkout-0')},sale="shop/launch"}`,
        `0 2x${String(samples)}`,
      ),
      series(
        `flashguard_breaker_state{${sidecar('checkout-1')},sale="shop/launch"}`,
        `0x${String(samples)}`,
      ),
      // One pod's poll saw the halt after a minute, the other's not yet; another sale runs on.
      series(
        `flashguard_ledger_halted{${sidecar('checkout-0')},sale="shop/launch"}`,
        `0 1x${String(samples)}`,
      ),
      series(
        `flashguard_ledger_halted{${sidecar('checkout-1')},sale="shop/launch"}`,
        `0x${String(samples)}`,
      ),
      series(
        `flashguard_ledger_halted{${sidecar('checkout-1')},sale="shop/other"}`,
        `0x${String(samples)}`,
      ),
      series('flashguard_operator_leader{instance="op-a",job="operator"}', `1x${String(samples)}`),
      series('flashguard_operator_leader{instance="op-b",job="operator"}', `0x${String(samples)}`),
      // The leader: "phone" sold out with 3 units in doubt, its books balanced; "case" lost a unit.
      ...units('op-a', 'phone', { total: 10, available: 0, reserved: 4, in_doubt: 3, sold: 6 }),
      ...units('op-a', 'case', { total: 10, available: 5, reserved: 2, in_doubt: 0, sold: 2 }),
      // A former leader's stale gauges: "case" sold out there, "phone" unbalanced; never alerts.
      ...units('op-b', 'case', { total: 10, available: 0, reserved: 0, in_doubt: 0, sold: 10 }),
      ...units('op-b', 'phone', { total: 10, available: 5, reserved: 0, in_doubt: 1, sold: 0 }),
    ];
    const expected = (name: string, labels: Record<string, string>, value: string) => {
      const r = rule(name);
      const all = { ...labels, ...r.labels };
      return {
        exp_labels: all,
        exp_annotations: Object.fromEntries(
          Object.entries(r.annotations).map(([k, v]) => [k, expand(v, all, value)]),
        ),
      };
    };
    const after = (name: string) => `${String(minutes(rule(name).for) + 2)}m`;
    const ledger = { instance: 'op-a', job: 'operator', sale: 'shop/launch' };
    const alertTests = [
      {
        eval_time: after('FlashguardLedgerUnavailable'),
        alertname: 'FlashguardLedgerUnavailable',
        exp_alerts: [
          expected(
            'FlashguardLedgerUnavailable',
            { namespace: 'shop', pod: 'checkout-0', job: 'sidecars' },
            '0',
          ),
        ],
      },
      {
        eval_time: after('FlashguardBreakerOpen'),
        alertname: 'FlashguardBreakerOpen',
        exp_alerts: [
          expected('FlashguardBreakerOpen', { namespace: 'shop', sale: 'shop/launch' }, '2'),
        ],
      },
      { eval_time: '0m', alertname: 'FlashguardLedgerHalted', exp_alerts: [] },
      {
        eval_time: after('FlashguardLedgerHalted'),
        alertname: 'FlashguardLedgerHalted',
        exp_alerts: [
          expected('FlashguardLedgerHalted', { namespace: 'shop', sale: 'shop/launch' }, '1'),
        ],
      },
      {
        eval_time: '5m',
        alertname: 'FlashguardSoldOut',
        exp_alerts: [
          expected('FlashguardSoldOut', { ...ledger, sku: 'phone', state: 'available' }, '0'),
        ],
      },
      // Not before its hold time: three units in doubt for a moment is normal.
      { eval_time: '2m', alertname: 'FlashguardInDoubtUnits', exp_alerts: [] },
      {
        eval_time: after('FlashguardInDoubtUnits'),
        alertname: 'FlashguardInDoubtUnits',
        exp_alerts: [
          expected('FlashguardInDoubtUnits', { ...ledger, sku: 'phone', state: 'in_doubt' }, '3'),
        ],
      },
      {
        eval_time: after('FlashguardLedgerInvariantBroken'),
        alertname: 'FlashguardLedgerInvariantBroken',
        exp_alerts: [expected('FlashguardLedgerInvariantBroken', { ...ledger, sku: 'case' }, '9')],
      },
    ];
    const testFile = join(dir, 'rules.test.json');
    writeFileSync(
      testFile,
      JSON.stringify({
        rule_files: [rulesFile],
        evaluation_interval: '1m',
        tests: [{ interval: '1m', input_series: input, alert_rule_test: alertTests }],
      }),
    );
    const result = await runCommand('promtool', ['test', 'rules', testFile], process.env, {
      check: false,
    });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    // Every alert of the chart was exercised.
    assert.deepEqual(
      [...new Set(alertTests.map((t) => t.alertname))].sort(),
      rules.map((r) => r.alert).sort(),
    );
  });

  void describe('a real Prometheus scraping real sidecars under a paced load', () => {
    const sale = flashSale('launch', {
      items: [{ sku: 'phone', stock: 100_000, perUserLimit: 1 }],
      limits: { admissionRate: 10_000, burst: 1000 },
    });
    const saleLabel = 'shop/launch';
    let redis: RedisServer;
    let shop: RunningShop;
    let sidecars: RunningSidecar[];
    let prometheus: RunningPrometheus;
    /** Per pod: when each checkout got its answer (ms since the epoch), and the statuses. */
    const answeredAt = new Map<string, number[]>();
    const statuses = new Map<number, number>();
    let load: Promise<void>;
    let loadStarted = 0;

    async function checkout(url: string, pod: string, i: number): Promise<void> {
      const response = await fetch(`${url}${specDefaults.checkout.path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [specDefaults.checkout.userHeader]: `${pod}-user-${String(i)}`,
          [specDefaults.checkout.idempotencyKeyHeader]: `${pod}-${String(i)}`,
        },
        body: JSON.stringify({ sku: 'phone', quantity: 1 }),
        signal: AbortSignal.timeout(10_000),
      });
      await response.body?.cancel();
      answeredAt.get(pod)?.push(Date.now());
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    }

    /** Sends `perSecond` checkouts a second on an absolute schedule (no drift) until `endMs`. */
    async function pace(url: string, pod: string, perSecond: number, endMs: number) {
      const inFlight: Promise<void>[] = [];
      const start = Date.now();
      for (let i = 0; ; i++) {
        const at = start + (i * 1000) / perSecond;
        if (at >= endMs) break;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
        inFlight.push(checkout(url, pod, i).catch(() => undefined));
      }
      await Promise.all(inFlight);
    }

    before(async () => {
      [redis, shop] = await Promise.all([startRedis(), startShop()]);
      sidecars = [];
      for (const pod of pods) {
        sidecars.push(
          await startSidecar({ sale, upstream: shop.url, redisUrl: redis.url, id: pod.name }),
        );
      }
      prometheus = await startPrometheus({
        jobs: [
          {
            job: 'sidecars',
            // The labels Kubernetes service discovery (the chart's PodMonitor) gives a target.
            targets: sidecars.map((s, i) => ({
              address: new URL(s.opsUrl).host,
              labels: { namespace: 'shop', pod: pods[i]?.name ?? '' },
            })),
          },
        ],
        ruleFiles: [rulesFile],
      });
      await prometheus.waitForTargets();
      loadStarted = Date.now();
      const end = loadStarted + loadSeconds * 1000;
      load = Promise.all(
        pods.map((pod, i) => {
          answeredAt.set(pod.name, []);
          return pace(sidecars[i]?.url ?? '', pod.name, pod.perSecond, end);
        }),
      ).then(() => undefined);
    });
    after(async () => {
      await load;
      await prometheus.stop();
      await Promise.all(sidecars.map((s) => s.stop()));
      await Promise.all([shop.stop(), redis.destroy()]);
    });

    void it('evaluates every alert rule without error (rule health ok)', async () => {
      interface RulesAnswer {
        data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
      }
      const health = await waitFor(
        'every rule evaluated at least once',
        async () => {
          const answer = (await (
            await fetch(`${prometheus.url}/api/v1/rules`)
          ).json()) as RulesAnswer;
          const all = answer.data.groups.flatMap((g) => g.rules);
          return all.length === rules.length && all.every((r) => r.health !== 'unknown')
            ? all
            : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
      for (const r of health) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError ?? ''}`);
      for (const r of rules) await prometheus.query(r.expr);
    });

    void it('answers every dashboard query, with data wherever the sidecars export it', async () => {
      // Rates need a few scrapes of traffic; some series (histogram buckets) only appear with
      // the first checkout.
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, loadStarted + 15_000 - Date.now())),
      );
      for (const variable of dashboard.templating.list.filter((v) => v.type === 'query')) {
        const m = /^label_values\((.+), (\w+)\)$/.exec(variable.query?.query ?? '');
        assert.ok(m?.[1] !== undefined && m[2] !== undefined, `variable ${variable.name}`);
        const values = await prometheus.query(
          `count by (${m[2]}) (${grafanaQuery(m[1], saleLabel)})`,
        );
        assert.ok(values.samples.length > 0, `variable ${variable.name} has no values`);
      }
      // No operator is scraped here: its panels must only parse; the sidecars' must have data.
      const fromOperator = (name: string): boolean =>
        name.startsWith('flashguard_operator_') || name === 'flashguard_ledger_units';
      let sidecarQueries = 0;
      for (const panel of dashboard.panels) {
        for (const target of panel.targets) {
          const promql = grafanaQuery(target.expr, saleLabel);
          const result = await prometheus.query(promql);
          if (!metricNames(promql).some(fromOperator)) {
            assert.ok(result.samples.length > 0, `"${panel.title}": no data from ${promql}`);
            sidecarQueries += 1;
          }
        }
      }
      assert.ok(sidecarQueries > 0);
    });

    void it("serves each pod's request rate through the chart's prometheus-adapter rule", async (t) => {
      const shown = await helm(['show', 'values', chartDir]);
      assert.equal(shown.code, 0, shown.stderr);
      const values = parse(shown.stdout) as {
        prometheusAdapter: { rules: { custom: AdapterRule[] } };
      };
      const [rule] = values.prometheusAdapter.rules.custom;
      assert.ok(rule);
      // Discovery, as the adapter does it: the series the seriesQuery finds, named by the rule.
      const found = (await (
        await fetch(
          `${prometheus.url}/api/v1/series?${new URLSearchParams({ 'match[]': rule.seriesQuery }).toString()}`,
        )
      ).json()) as { data: Record<string, string>[] };
      const names = [...new Set(found.data.map((s) => s.__name__ ?? ''))];
      assert.deepEqual(names, ['flashguard_checkout_requests_total']);
      const series = names[0] ?? '';
      assert.equal(
        series.replace(new RegExp(rule.name.matches), rule.name.as),
        'flashguard_checkout_requests_per_second',
      );
      const labelFor = (resource: string): string => {
        const entry = Object.entries(rule.resources.overrides).find(
          ([, v]) => v.resource === resource,
        );
        if (entry === undefined) throw new Error(`the rule maps no label to ${resource}`);
        return entry[0];
      };

      // A full rate window inside the load, then every scrape of it in.
      const windowEnd = loadStarted + 72_000;
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, windowEnd + 3000 - Date.now())),
      );
      assert.ok(Date.now() < loadStarted + loadSeconds * 1000, 'the load ended too early');
      for (const pod of pods) {
        const promql: string = rule.metricsQuery
          .replaceAll('<<.Series>>', series)
          .replaceAll(
            '<<.LabelMatchers>>',
            `${labelFor('namespace')}="shop",${labelFor('pod')}=~"${pod.name}"`,
          )
          .replaceAll('<<.GroupBy>>', labelFor('pod'));
        const result = await prometheus.query(promql, new Date(windowEnd));
        assert.equal(result.samples.length, 1, promql);
        const measured = result.samples[0]?.value ?? 0;
        const answered = (answeredAt.get(pod.name) ?? []).filter(
          (t) => t > windowEnd - 60_000 && t <= windowEnd,
        ).length;
        const truth = answered / 60;
        t.diagnostic(
          `${pod.name}: adapter rule ${measured.toFixed(2)}/s, answered ${truth.toFixed(2)}/s, paced ${String(pod.perSecond)}/s`,
        );
        assert.ok(
          Math.abs(measured - truth) <= truth * rateTolerance,
          `${pod.name}: adapter rate ${measured.toFixed(2)}/s, answered ${truth.toFixed(2)}/s (paced at ${String(pod.perSecond)}/s)`,
        );
        assert.ok(
          Math.abs(truth - pod.perSecond) <= pod.perSecond * rateTolerance,
          `${pod.name} pace`,
        );
      }
      await load;
      // The checkouts were real: the shop committed them.
      assert.ok(
        (statuses.get(200) ?? 0) + (statuses.get(201) ?? 0) > 0,
        JSON.stringify([...statuses]),
      );
    });
  });
});
