// The I/O half of autoscaling.ts: observe the sale's HPA / ScaledObject, ask autoscalerPlan what
// to do, do it, and fold the AutoscalingReady condition, its Events and the next floor change into
// the reconcile's plan. A missing KEDA CRD or another sale's autoscaler is a condition, not an error.
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import {
  validateFlashSale,
  type FlashSaleCondition,
  type FlashSaleStatus,
} from '../api/v1alpha1/index.ts';
import {
  autoscalerPlan,
  autoscalerResources,
  desiredAutoscaler,
  SALE_LABEL,
  type AutoscalerObject,
  type AutoscalerResource,
  type AutoscalingOptions,
  type ObservedAutoscalers,
  type SaleRef,
} from './autoscaling.ts';
import type { SaleObject } from './informer.ts';
import { statusCode } from './kube.ts';
import { conditions, requeueAfter, type Plan, type Result } from './reconcile.ts';

export const CONDITION = 'AutoscalingReady';

/** The earlier of two looks. */
export function sooner(a: Result, b: Result): Result {
  if (a.kind === 'await-change') return b;
  if (b.kind === 'await-change') return a;
  return a.afterMs <= b.afterMs ? a : b;
}

/** The plan with its AutoscalingReady condition replaced (removed when `condition` is undefined). */
function withCondition(plan: Plan, condition: FlashSaleCondition | undefined): Plan {
  const others = (plan.status.conditions ?? []).filter((c) => c.type !== CONDITION);
  const kept = condition === undefined ? others : [...others, condition];
  return { ...plan, status: { ...plan.status, conditions: kept } };
}

export class SaleAutoscaler {
  readonly #custom: CustomObjectsApi;
  readonly #options: AutoscalingOptions;

  constructor(kubeconfig: KubeConfig, options: AutoscalingOptions) {
    this.#custom = kubeconfig.makeApiClient(CustomObjectsApi);
    this.#options = options;
  }

  /** Makes the cluster's autoscaler match the sale; returns the plan with what it found. */
  async reconcile(sale: SaleObject, plan: Plan, now: number): Promise<Plan> {
    const previous = (sale.status as FlashSaleStatus | undefined)?.conditions;
    const before = previous?.find((c) => c.type === CONDITION);
    // A failed sale keeps whatever it had, and says so; an invalid spec has nothing to scale by.
    if (plan.status.phase === 'Failed') return withCondition(plan, before);
    const validation = validateFlashSale({ ...sale, status: undefined });
    if (!validation.ok) return plan;
    const { settings } = validation;
    if (settings.autoscaling === null && before === undefined) return plan;

    const ref: SaleRef = {
      name: sale.metadata.name,
      namespace: sale.metadata.namespace,
      uid: sale.metadata.uid,
    };
    const desired = desiredAutoscaler(ref, settings, now, this.#options);
    const observed = await this.#observe(ref, desired.kind === 'object' ? desired : undefined);
    const action = autoscalerPlan(desired, observed, ref, before);

    for (const { resource, name } of action.remove)
      await this.#delete(resource, ref.namespace, name);
    if (action.write !== undefined && desired.kind === 'object') {
      await this.#write(desired.resource, action.write.op, action.write.object);
    }
    const generation = sale.metadata.generation;
    const next =
      action.nextChangeMs === undefined ? plan.result : requeueAfter(action.nextChangeMs - now);
    const [condition] =
      action.condition === undefined
        ? []
        : conditions(previous, [{ type: CONDITION, ...action.condition }], generation, now);
    return {
      ...withCondition(plan, condition),
      events: [...plan.events, ...action.events],
      result: sooner(plan.result, next),
    };
  }

  async #observe(
    sale: SaleRef,
    desired: { resource: AutoscalerResource; object: AutoscalerObject } | undefined,
  ): Promise<ObservedAutoscalers> {
    const [hpa, keda] = await Promise.all([
      this.#owned(autoscalerResources.HPA, sale),
      this.#owned(autoscalerResources.KEDA, sale),
    ]);
    const kedaMissing = keda === undefined;
    let existing: AutoscalerObject | undefined;
    let otherEngine: AutoscalerObject | undefined;
    if (desired !== undefined) {
      const name = desired.object.metadata.name;
      const other = autoscalerResources[desired.resource.engine === 'HPA' ? 'KEDA' : 'HPA'];
      const lookup = (resource: AutoscalerResource) =>
        resource.engine === 'KEDA' && kedaMissing
          ? undefined
          : this.#get(resource, sale.namespace, name);
      [existing, otherEngine] = await Promise.all([lookup(desired.resource), lookup(other)]);
    }
    return { owned: { HPA: hpa ?? [], KEDA: keda ?? [] }, existing, otherEngine, kedaMissing };
  }

  /** Objects labelled as this sale's; undefined when the API itself is missing (no CRD). */
  async #owned(
    resource: AutoscalerResource,
    sale: SaleRef,
  ): Promise<{ name: string }[] | undefined> {
    try {
      const list = (await this.#custom.listNamespacedCustomObject({
        group: resource.group,
        version: resource.version,
        namespace: sale.namespace,
        plural: resource.plural,
        labelSelector: `${SALE_LABEL}=${sale.name}`,
      })) as { items: AutoscalerObject[] };
      return list.items
        .filter((o) => o.metadata.ownerReferences?.some((r) => r.uid === sale.uid) === true)
        .map((o) => ({ name: o.metadata.name }));
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
      throw error;
    }
  }

  async #get(
    resource: AutoscalerResource,
    namespace: string,
    name: string,
  ): Promise<AutoscalerObject | undefined> {
    try {
      return (await this.#custom.getNamespacedCustomObject({
        ...this.#path(resource, namespace),
        name,
      })) as AutoscalerObject;
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
      throw error;
    }
  }

  async #write(
    resource: AutoscalerResource,
    op: 'create' | 'replace',
    object: AutoscalerObject,
  ): Promise<void> {
    const path = this.#path(resource, object.metadata.namespace);
    if (op === 'create') await this.#custom.createNamespacedCustomObject({ ...path, body: object });
    else {
      await this.#custom.replaceNamespacedCustomObject({
        ...path,
        name: object.metadata.name,
        body: object,
      });
    }
  }

  async #delete(resource: AutoscalerResource, namespace: string, name: string): Promise<void> {
    try {
      await this.#custom.deleteNamespacedCustomObject({ ...this.#path(resource, namespace), name });
    } catch (error) {
      if (statusCode(error) !== 404) throw error;
    }
  }

  #path(resource: AutoscalerResource, namespace: string) {
    return { group: resource.group, version: resource.version, namespace, plural: resource.plural };
  }
}
