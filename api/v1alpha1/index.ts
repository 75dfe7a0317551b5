// The FlashSale API, flashguard.dev/v1alpha1: what the ledger, the sidecar, the operator and the
// CRD generator import. The invalid-FlashSale corpus loader is in corpus.ts (tests only).
export {
  apiVersion,
  kind,
  httpMethods,
  valueSources,
  workloadKinds,
  autoscalingEngines,
  deletionPolicies,
  phases,
  conditionStatuses,
  specDefaults,
  FlashSaleSchema,
  FlashSaleSpecSchema,
  FlashSaleStatusSchema,
  type FlashSale,
  type FlashSaleSpec,
  type FlashSaleStatus,
  type FlashSaleItem,
  type FlashSaleItemStatus,
  type FlashSaleCondition,
  type CheckoutSpec,
  type ValueSourceSpec,
  type Phase,
} from './schema.ts';
export { celRules, ruleField, type CelRule } from './rules.ts';
export { withDefaults, type SaleSettings, type ValueSourceSettings } from './settings.ts';
export { validateFlashSale, type ValidationError, type ValidationResult } from './validate.ts';
export { parseFlashSaleYaml, loadFlashSaleFile } from './load.ts';
export { plainSchema, schemaNodes, type SchemaNode } from './schema-walk.ts';
