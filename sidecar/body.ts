// Reads a checkout request body up to a limit. Checkout bodies are small JSON documents; a
// larger one is refused without keeping it. (Pass-through bodies are streamed untouched.)
import type { Readable } from 'node:stream';

/**
 * Calls `done` once with the body, 'too-large', or the stream's error. A callback, not a promise:
 * the sold-out answer is written in the same tick the body ends, with no microtask in between.
 */
export function readBody(
  stream: Readable,
  declaredLength: string | undefined,
  limit: number,
  done: (body: Buffer | 'too-large' | Error) => void,
): void {
  // Discard whatever is left so the socket stays usable for the 413 answer.
  const refuse = () => {
    stream.removeListener('data', onData);
    stream.removeListener('end', onEnd);
    stream.removeListener('error', onError);
    stream.resume();
    done('too-large');
  };
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) refuse();
    else chunks.push(chunk);
  };
  const onEnd = () => {
    stream.removeListener('error', onError);
    done(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
  };
  const onError = (error: Error) => {
    stream.removeListener('end', onEnd);
    done(error);
  };
  if (declaredLength !== undefined && Number(declaredLength) > limit) {
    refuse();
    return;
  }
  stream.on('data', onData);
  stream.once('end', onEnd);
  stream.once('error', onError);
}
