// Test-only static server (not shipped): serves the built browser modules (build/web) at /, the e2e
// fixtures at /test/ and the benchmark pages at /bench/, with televisitd's own CSP (televisit-csp.mjs), so a
// module that needs eval or an inline script fails here as it would in production. Benchmark pages
// are cross-origin isolated as well, for the browser's fine-grained timer.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { TELEVISIT_CSP as csp } from './televisit-csp.mjs';

const port = Number(process.argv[2] || 47801);
const roots = { '/test/': 'e2e/fixtures', '/bench/': 'bench/web', '/': 'build/web' };
const types = { '.html': 'text/html; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8', '.wasm': 'application/wasm', '.css': 'text/css; charset=utf-8' };

createServer(async (req, res) => {
  const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  if (path === '/healthz') return res.end('ok');
  const prefix = Object.keys(roots).find((p) => path.startsWith(p));
  const root = roots[prefix];
  const file = normalize(join(root, path.slice(prefix.length)));
  if (!file.startsWith(root + sep) || !types[extname(file)]) {
    res.writeHead(404).end();
    return;
  }
  try {
    const body = await readFile(file);
    const isolation = prefix === '/bench/' || req.headers.referer?.includes('/bench/')
      ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } : {};
    res.writeHead(200, { 'Content-Type': types[extname(file)], 'Content-Security-Policy': csp,
      'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store', ...isolation });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
}).listen(port, '127.0.0.1');
