// The storm benchmark's like-for-like reference (design.md §8): a bare Fastify route that receives
// the same checkout POST (JSON body parsed) and answers a JSON body of a given size, the size of
// the sidecar's sold-out answer. Its own process, so its CPU is read from the OS like the sidecar's.
//
//   node bench/ref-route.ts --listen 127.0.0.1:PORT --body-bytes N
import { parseArgs } from 'node:util';
import Fastify from 'fastify';

const { values } = parseArgs({
  options: { listen: { type: 'string' }, 'body-bytes': { type: 'string' } },
});
const listen = /^(.+):(\d+)$/.exec(values.listen ?? '');
const bodyBytes = Number(values['body-bytes']);
const empty = '{"padding":""}';
if (listen?.[1] === undefined || !Number.isInteger(bodyBytes) || bodyBytes < empty.length) {
  console.error('usage: node bench/ref-route.ts --listen HOST:PORT --body-bytes N (N >= 14)');
  process.exit(2);
}
const answer = JSON.stringify({ padding: 'x'.repeat(bodyBytes - empty.length) });

const app = Fastify({ logger: false });
app.post('/checkout', (_request, reply) => reply.code(409).type('application/json').send(answer));
app.get('/ready', (_request, reply) => reply.send({ ready: true }));
await app.listen({ host: listen[1], port: Number(listen[2]) });
