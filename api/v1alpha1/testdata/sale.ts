// A minimal valid FlashSale, fresh on each call, for tests to mutate.
export function minimalSale(): {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown>;
  spec: Record<string, unknown> & { window: { start: string; end: string } };
} {
  return {
    apiVersion: 'flashguard.dev/v1alpha1',
    kind: 'FlashSale',
    metadata: { name: 'test-sale' },
    spec: {
      window: { start: '2026-11-27T10:00:00Z', end: '2026-11-27T12:00:00Z' },
      items: [
        { sku: 'A-1', stock: 10 },
        { sku: 'B-2', stock: 5, perUserLimit: 2 },
      ],
      limits: { admissionRate: 100, burst: 10 },
    },
  };
}
