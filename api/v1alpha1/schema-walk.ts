// Plain-JSON views of the TypeBox schemas, for Ajv, the CRD generator and the schema tests.

export interface SchemaNode {
  type?: string;
  description?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: boolean;
  [keyword: string]: unknown;
}

/** The schema as plain JSON (TypeBox's own markers are not enumerable, so they drop out). */
export function plainSchema(schema: object): SchemaNode {
  return JSON.parse(JSON.stringify(schema)) as SchemaNode;
}

/** Every node with its field path: '' for the root, 'spec.items[*].sku' below an array. */
export function* schemaNodes(node: SchemaNode, path = ''): Generator<[string, SchemaNode]> {
  yield [path, node];
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    yield* schemaNodes(child, path === '' ? name : `${path}.${name}`);
  }
  if (node.items) yield* schemaNodes(node.items, `${path}[*]`);
}
