// Node's standard library only (node:http, no fetch, no dependencies): arm a 429 through the
// mock's control plane, then see it on the API.
//   layers-mock &   then   node arm-429-with-node-http.mjs   (in examples/node)
// http.request sends a body written with req.write() as `Transfer-Encoding: chunked`, with no
// Content-Length: the mock's control plane reads it however it is framed.
import http from "node:http";

const BASE_URL = (process.env.LAYERS_MOCK_URL ?? "http://127.0.0.1:4010").replace(/\/$/, "");
const API_KEY = process.env.LAYERS_API_KEY ?? "lp_test_acme_write_7Qm2xK9pL4vN8rT1"; // the default world's write key
const ADMIN_TOKEN = process.env.LAYERS_MOCK_ADMIN_TOKEN;
const EXAMPLE = "sa_9c1e42a0-b7f3-4e5d-a2c1-8b4f5e6c7d8e"; // the published page's example account

/** One request; resolves { status, headers, body } with the body parsed as JSON. */
function call(method, path, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, BASE_URL), { method, headers }, (res) => {
      const chunks = [];
      res.on("data", (chunk) => chunks.push(chunk));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode, headers: res.headers, body: JSON.parse(text) });
      });
    });
    req.on("error", reject);
    if (body !== undefined) req.write(JSON.stringify(body)); // written, not passed to end(): chunked
    req.end();
  });
}

function control(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (ADMIN_TOKEN) headers["X-Mock-Admin-Token"] = ADMIN_TOKEN;
  return call(method, `/_mock${path}`, { headers, body });
}

function expect(what, answer, status) {
  console.log(`${what}: ${answer.status} ${JSON.stringify(answer.body).slice(0, 160)}`);
  if (answer.status !== status) {
    console.error(`expected ${status}`);
    process.exit(1);
  }
}

expect("POST /_mock/reset (chunked)", await control("POST", "/reset", {}), 200);
expect("PUT /_mock/keys/write/budget {remaining: 0} (chunked)",
  await control("PUT", "/keys/write/budget", { remaining: 0 }), 200);
const limited = await call("DELETE", `/v1/social-accounts/${EXAMPLE}`, { headers: { Authorization: `Bearer ${API_KEY}` } });
expect("DELETE /v1/social-accounts/{id}", limited, 429);
console.log(`error.code ${limited.body.error.code}, Retry-After ${limited.headers["retry-after"]}`);
