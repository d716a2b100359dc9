import { ADMIN_TOKEN } from "./harness.ts";

/** Any route's answer, read by tests and benchmarks as each needs. */
// biome-ignore lint/suspicious/noExplicitAny: the body of whichever route was called
type Answer = Record<string, any>;

/**
 * A JSON call to a running server (`admin`: true for the test admin token, or a token of its own);
 * the status and the parsed body.
 */
export async function call(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  admin: boolean | string = false,
): Promise<{ status: number; body: Answer }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...(body !== undefined && { "content-type": "application/json" }),
      ...(admin && { authorization: `Bearer ${admin === true ? ADMIN_TOKEN : admin}` }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Answer };
}

/** Polls `check` every 20 ms until it holds (a throw counts as not yet); resolves to the ms it took. */
export async function until(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<number> {
  const t0 = performance.now();
  while (!(await check().catch(() => false))) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return performance.now() - t0;
}
