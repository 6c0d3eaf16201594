// A Node.js partner's view of the Layers mock: the revoke call and the mock's control plane.
// Global fetch (Node 18+), no dependencies. Where the mock is: LAYERS_MOCK_URL, else the ready
// file of a mock started with `--ready-file PATH` (LAYERS_MOCK_READY_FILE=PATH: its real port,
// also with --port 0, and its keys), else http://127.0.0.1:4010. With a mock in a container add
// LAYERS_MOCK_ADMIN_TOKEN (the control plane then needs it).
import { readFileSync } from "node:fs";

const READY_FILE = process.env.LAYERS_MOCK_READY_FILE;

/** The mock's ready file (docs/using-the-mock.md: "Machine-readable start"), when one is named. */
function readReadyFile(path) {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new Error(
      `LAYERS_MOCK_READY_FILE=${path}: ${err.code === "ENOENT" ? "no such file" : err.message}. ` +
        `The mock writes it once it answers: start it with \`layers-mock --port 0 --ready-file ${path}\`` +
        " and wait for the file.",
      { cause: err },
    );
  }
}

const READY = READY_FILE ? readReadyFile(READY_FILE) : undefined;

export const BASE_URL = (process.env.LAYERS_MOCK_URL ?? READY?.baseUrl ?? "http://127.0.0.1:4010").replace(/\/$/, "");
// The default world's write key, as `layers-mock` prints it at start-up (and lists it in its ready file).
export const API_KEY =
  process.env.LAYERS_API_KEY ??
  READY?.keys?.find((k) => k.label === "write")?.secret ??
  "lp_test_acme_write_7Qm2xK9pL4vN8rT1";
const ADMIN_TOKEN = process.env.LAYERS_MOCK_ADMIN_TOKEN;

/** fetch, whose bare "fetch failed" on a refused connection becomes: which URL, and how to start the mock. */
async function send(url, init) {
  try {
    return await fetch(url, init);
  } catch (err) {
    throw new Error(
      `cannot reach the Layers mock at ${url} (${err.cause?.code ?? err.message}). ` +
        "Start it with `layers-mock --port 4010` (docs/using-the-mock.md), or point LAYERS_MOCK_URL " +
        "(or LAYERS_MOCK_READY_FILE, with `layers-mock --ready-file PATH`) at the mock you started.",
      { cause: err },
    );
  }
}

/** DELETE /v1/social-accounts/{id}: returns { status, headers, body }. */
export async function revoke(socialAccountId, { apiKey = API_KEY, idempotencyKey } = {}) {
  const headers = { Authorization: `Bearer ${apiKey}` };
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  const res = await send(`${BASE_URL}/v1/social-accounts/${encodeURIComponent(socialAccountId)}`, {
    method: "DELETE",
    headers,
  });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

/** One control-plane call (/_mock/...); throws unless it answers 2xx. */
const adminHeaders = () => (ADMIN_TOKEN ? { "X-Mock-Admin-Token": ADMIN_TOKEN } : {});

async function control(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (ADMIN_TOKEN) headers["X-Mock-Admin-Token"] = ADMIN_TOKEN;
  const res = await send(`${BASE_URL}/_mock${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} /_mock${path} answered ${res.status}: ${text}`);
  return JSON.parse(text);
}

export const mock = {
  reset: () => control("POST", "/reset", {}),
  // Without organizationId the account belongs to the write key's organization.
  createAccount: (posts = { queued: 3 }) => control("POST", "/accounts", { posts }),
  account: (id) => control("GET", `/accounts/${encodeURIComponent(id)}`),
  // A key's label ("write") works where its id is expected.
  setBudget: (key, remaining) => control("PUT", `/keys/${encodeURIComponent(key)}/budget`, { remaining }),
  freezeClock: () => control("PUT", "/clock", { frozen: true }),
  advanceClock: (seconds) => control("PUT", "/clock", { advanceSeconds: seconds }),
  killSwitch: (scope, target, enabled = true) => control("PUT", "/kill-switches", { scope, target, enabled }),
  // Scripted answers for the next revokes, e.g. [{ status: 429, retryAfter: 1 }, { status: 200 }].
  armScenario: (steps, { socialAccountId, keyId } = {}) =>
    control("POST", "/scenarios", { steps, ...(socialAccountId && { socialAccountId }), ...(keyId && { keyId }) }),
  // How the client behaved: every rule with its passes, flags and the requests that raised them.
  clientReport: () => control("GET", "/client-report"),
  clientReportText: async () => (await send(`${BASE_URL}/_mock/client-report?format=text`, { headers: adminHeaders() })).text(),
  clearClientReport: () => control("DELETE", "/client-report"),
};

/** Throws unless the client report flagged nothing; the message names the rule, the request and the fix. */
export function assertClientBehaved(report) {
  const broken = report.rules.filter((r) => r.flags > 0);
  if (broken.length === 0) return report;
  const lines = broken.flatMap((r) =>
    r.flagged.map(
      (f) =>
        `[${r.severity}] ${r.id}: ${f.why}\n    request: ${f.requestId} ${f.method} ${f.socialAccountId} -> ${f.status}` +
        `\n    fix: ${r.fix}`,
    ),
  );
  throw new Error(`the client broke ${broken.length} rule(s) (layers-mock client report):\n${lines.join("\n")}`);
}
