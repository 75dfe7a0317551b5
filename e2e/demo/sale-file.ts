// The demo's sale file: the example FlashSale with its window moved to now and its order-status
// endpoint moved to the demo shop's port, validated as the sidecar will validate it.
import { parseDocument } from 'yaml';
import { parseFlashSaleYaml, type SaleSettings } from '../../api/v1alpha1/index.ts';

export const demoSaleTemplate = new URL('../../examples/demo-flashsale.yaml', import.meta.url);

export interface DemoSale {
  /** The FlashSale YAML to hand the sidecar. */
  yaml: string;
  name: string;
  settings: SaleSettings;
}

export interface DemoSalePlacement {
  nowMs: number;
  /** How long the sale stays open from now. */
  openForMs: number;
  /** Origin of the demo shop, e.g. http://127.0.0.1:8081. */
  shopUrl: string;
}

/** Rewrites the template's window and order-status URL; throws naming any invalid field. */
export function placeDemoSale(template: string, placement: DemoSalePlacement): DemoSale {
  const doc = parseDocument(template);
  if (doc.errors.length > 0) throw new Error(`demo sale template: ${doc.errors[0]?.message ?? ''}`);
  // A second in the past, so the sidecar never sees the sale as not started.
  doc.setIn(['spec', 'window', 'start'], new Date(placement.nowMs - 1000).toISOString());
  doc.setIn(
    ['spec', 'window', 'end'],
    new Date(placement.nowMs + placement.openForMs).toISOString(),
  );
  doc.setIn(['spec', 'orderStatus', 'url'], `${placement.shopUrl}/orders/{reservation}`);
  const yaml = doc.toString();
  const result = parseFlashSaleYaml(yaml);
  if (!result.ok) {
    const reasons = result.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
    throw new Error(`demo sale is not a valid FlashSale: ${reasons}`);
  }
  return { yaml, name: result.value.metadata.name, settings: result.settings };
}
