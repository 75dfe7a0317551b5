// Reads a checkout request body up to a limit. Checkout bodies are small JSON documents; a
// larger one is refused without keeping it. (Pass-through bodies are streamed untouched.)
import type { Readable } from 'node:stream';

export function readBody(
  stream: Readable,
  declaredLength: string | undefined,
  limit: number,
): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    // Discard whatever is left so the socket stays usable for the 413 answer.
    const refuse = () => {
      stream.removeListener('data', onData);
      stream.removeListener('end', onEnd);
      stream.resume();
      resolve('too-large');
    };
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) refuse();
      else chunks.push(chunk);
    };
    const onEnd = () => {
      stream.removeListener('error', reject);
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
    };
    if (declaredLength !== undefined && Number(declaredLength) > limit) {
      refuse();
      return;
    }
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', reject);
  });
}
