// A TypeScript partner's reading of every documented error of the revoke call, on the types
// openapi-typescript generates from openapi.yaml (scripts/check-sdks.sh). Type-checked with
// tsc --strict; the script refuses type assertions and the escape-hatch type in this file.
import type { paths } from "../generated/typescript/layers";

type Revoke = paths["/v1/social-accounts/{socialAccountId}"]["delete"];
type ErrorBody<S extends keyof Revoke["responses"]> = Revoke["responses"][S]["content"]["application/json"];

/** 400 VALIDATION: one message per problem (details and its issues are optional on a 400). */
export function validationIssues(body: ErrorBody<400>): string[] {
  return (body.error.details?.issues ?? []).map((issue) => issue.message);
}

/** 403 FORBIDDEN_SCOPE: the scope the key lacks. */
export function requiredScope(body: ErrorBody<403>): string {
  return body.error.details.requiredScope;
}

/** 503 KILL_SWITCH: what was disabled. */
export function killSwitchScope(body: ErrorBody<503>): "key" | "organization" | "global" {
  return body.error.details.scope;
}

/** Every documented error: its code and the request id to quote to Layers. */
export function describe(body: ErrorBody<400 | 401 | 403 | 404 | 409 | 429 | 500 | 503>): string {
  return `${body.error.code} (${body.error.requestId}): ${body.error.message}`;
}

// The fields are their documented types, exactly: a field typed `never` (what an untyped
// `details` intersected with a typed one gives) would pass every function above unnoticed.
type Exactly<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
type Details<S extends 400 | 403 | 503> = NonNullable<ErrorBody<S>["error"]["details"]>;
export const typed: [
  Exactly<NonNullable<Details<400>["issues"]>[number]["message"], string>,
  Exactly<Details<403>["requiredScope"], string>,
  Exactly<Details<503>["scope"], "key" | "organization" | "global">,
] = [true, true, true];
