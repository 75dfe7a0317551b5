// An upstream that says what it received (method, URL, headers, body size and digest), for
// checking that pass-through traffic reaches the app unchanged.
//   node e2e/support/echo-server.ts PORT
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';

const port = Number(process.argv[2]);
const server = createServer((req, res) => {
  const hash = createHash('sha256');
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'x-echo': 'yes' });
    res.end(
      JSON.stringify({
        method: req.method,
        url: req.url,
        headers: req.headers,
        bodyBytes: bytes,
        bodySha256: hash.digest('hex'),
      }),
    );
  });
});
server.listen(port, '127.0.0.1');
process.once('SIGTERM', () => server.close(() => process.exit(0)));
