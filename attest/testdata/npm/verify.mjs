// Usage: node verify.mjs QUOTE COLLATERAL.json RFC3339-TIME [ITERATIONS]
// Verifies QUOTE with @phala/dcap-qvl-web at the given time and prints one
// JSON object: {"ok", "status", "advisory_ids", "error", "ns_per_op"}.
import fs from 'node:fs';
import init, { js_verify } from '@phala/dcap-qvl-web';

const [quotePath, collPath, at, iterArg] = process.argv.slice(2);
const wasm = fs.readFileSync(new URL('./node_modules/@phala/dcap-qvl-web/dcap-qvl-web_bg.wasm', import.meta.url));
await init({ module_or_path: wasm });
const quote = new Uint8Array(fs.readFileSync(quotePath));
const coll = JSON.parse(fs.readFileSync(collPath, 'utf8'));
const now = BigInt(Math.floor(Date.parse(at) / 1000));
const out = { ok: false, status: '', advisory_ids: [], error: '', ns_per_op: 0 };
const once = () => js_verify(quote, coll, now);
try {
  const r = once();
  out.ok = true;
  out.status = r.status;
  out.advisory_ids = r.advisory_ids;
} catch (e) {
  out.error = String(e);
}
const n = Number(iterArg || 0);
if (out.ok && n > 0) {
  for (let i = 0; i < Math.min(n, 50); i++) once(); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) once();
  out.ns_per_op = Number(process.hrtime.bigint() - t0) / n;
}
console.log(JSON.stringify(out));
