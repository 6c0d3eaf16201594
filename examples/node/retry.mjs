// A small retry helper, as a partner's Node client would have one: retries 429 after its
// Retry-After and 500 with exponential back-off (the same request, so the same Idempotency-Key),
// never a 4xx or a 503 KILL_SWITCH (those need a person, not a retry). No dependencies.

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** `send()` returns { status, headers, body }; retried at most `attempts` times in all. */
export async function withRetry(send, { attempts = 5, baseMs = 200 } = {}) {
  let answer;
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    answer = await send();
    if (answer.status === 429) {
      await sleep(Number(answer.headers.get("retry-after") ?? 1) * 1000);
    } else if (answer.status === 500) {
      await sleep(baseMs * 2 ** attempt);
    } else {
      return answer;
    }
  }
  return answer;
}
