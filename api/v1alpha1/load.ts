// The standalone loader: one FlashSale from YAML (a file the sidecar runs from without
// Kubernetes), validated exactly as validateFlashSale does, with line numbers on every error.
import { readFile } from 'node:fs/promises';
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import { validateFlashSale, type ValidationError, type ValidationResult } from './validate.ts';

/** Reads and validates a FlashSale YAML file; errors reading the file are thrown. */
export async function loadFlashSaleFile(path: string): Promise<ValidationResult> {
  return parseFlashSaleYaml(await readFile(path, 'utf8'));
}

/** Parses one FlashSale YAML document and validates it; pure. */
export function parseFlashSaleYaml(text: string): ValidationResult {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const [doc] = docs;
  if (docs.length !== 1 || !doc) {
    return fail(`expected one YAML document holding a FlashSale, found ${docs.length}`);
  }
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        return {
          field: '',
          message: `YAML syntax error at line ${line}, column ${col}: ${e.message}`,
          line,
        };
      }),
    };
  }
  let obj: unknown;
  try {
    obj = doc.toJS();
  } catch (e) {
    // e.g. an alias bomb beyond yaml's maxAliasCount
    return fail(`YAML cannot be read: ${e instanceof Error ? e.message : String(e)}`);
  }
  const result = validateFlashSale(obj);
  if (result.ok) return result;
  return { ok: false, errors: result.errors.map((e) => locate(e, doc, lineCounter)) };
}

function fail(message: string): ValidationResult {
  return { ok: false, errors: [{ field: '', message }] };
}

/** Adds the line of the field, or of its nearest present ancestor when the field is missing. */
function locate(error: ValidationError, doc: Document, lineCounter: LineCounter): ValidationError {
  const segments = (error.field.match(/[^.[\]]+/g) ?? []).map((s) =>
    /^\d+$/.test(s) ? Number(s) : s,
  );
  for (let n = segments.length; n >= 0; n--) {
    const node: unknown = doc.getIn(segments.slice(0, n), true);
    const start = rangeStart(node);
    if (start !== undefined) return { ...error, line: lineCounter.linePos(start).line };
  }
  return error;
}

function rangeStart(node: unknown): number | undefined {
  if (typeof node !== 'object' || node === null || !('range' in node)) return undefined;
  const { range } = node as { range?: [number, number, number] | null };
  return range?.[0];
}
