// Cross-field rules, defined once: the CRD generator emits each as an
// `x-kubernetes-validations` entry ({rule, message, fieldPath}) on the schema node at `path`,
// and validateFlashSale runs `check` on the defaulted spec. The apiserver applies defaults before
// it evaluates CEL, so the checks see defaulted values too.
import type { SaleSettings } from './settings.ts';

export interface CelRule {
  /** The schema node that carries the rule, as a field path: 'spec', 'spec.window'... */
  readonly path: 'spec' | 'spec.window' | 'spec.items' | 'spec.checkout' | 'spec.autoscaling';
  /** The CEL expression; `self` is the node at `path`. */
  readonly rule: string;
  /** Shown after the field path when the rule fails. */
  readonly message: string;
  /** The field the error names, relative to `path` ('.end'); absent: `path` itself. */
  readonly fieldPath?: string;
  /** The same rule in code; true when it holds (or its node is absent). */
  readonly check: (sale: SaleSettings) => boolean;
}

export const celRules: readonly CelRule[] = [
  {
    path: 'spec.window',
    rule: 'self.end > self.start',
    message: 'must be after start',
    fieldPath: '.end',
    check: ({ window }) => window.endMs > window.startMs,
  },
  {
    path: 'spec.items',
    rule: 'self.all(a, self.exists_one(b, b.sku == a.sku))',
    message: 'each sku must appear once',
    check: ({ items }) => new Set(items.map((item) => item.sku)).size === items.length,
  },
  {
    path: 'spec.checkout',
    rule:
      'self.reservationHeader.lowerAscii() != self.userHeader.lowerAscii() && ' +
      'self.reservationHeader.lowerAscii() != self.idempotencyKeyHeader.lowerAscii()',
    message: 'must differ from userHeader and idempotencyKeyHeader: the sidecar overwrites it',
    fieldPath: '.reservationHeader',
    // Settings hold header names lower-cased already.
    check: ({ checkout: c }) =>
      c.reservationHeader !== c.userHeader && c.reservationHeader !== c.idempotencyKeyHeader,
  },
  {
    path: 'spec.autoscaling',
    rule: 'self.maxReplicas >= self.minReplicas',
    message: 'must be at least minReplicas',
    fieldPath: '.maxReplicas',
    check: ({ autoscaling }) => !autoscaling || autoscaling.maxReplicas >= autoscaling.minReplicas,
  },
  {
    path: 'spec',
    rule: '!has(self.autoscaling) || has(self.workload)',
    message: 'is required when autoscaling is set: it names what to scale',
    fieldPath: '.workload',
    check: ({ autoscaling, workload }) => !autoscaling || workload !== null,
  },
  {
    path: 'spec',
    rule: 'self.reservation.ttlSeconds * 1000 > self.checkout.upstreamTimeoutMilliseconds',
    message:
      'must exceed checkout.upstreamTimeoutMilliseconds, or a reservation could expire and be resold while its checkout is in flight',
    fieldPath: '.reservation.ttlSeconds',
    check: ({ reservation, checkout }) =>
      reservation.ttlSeconds * 1000 > checkout.upstreamTimeoutMilliseconds,
  },
];

/** The field a failed rule names, in the apiserver's format. */
export function ruleField(rule: CelRule): string {
  return rule.path + (rule.fieldPath ?? '');
}
