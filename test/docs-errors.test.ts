import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ERROR_MEANING, ERROR_STATUS, errorTable } from "../service/errors.ts";
import { API_DOC, withErrorTable } from "../tools/docs-errors.ts";

describe("docs/api.md's error table", () => {
  it("is the code's own table (npm run docs:errors writes it)", () => {
    const doc = readFileSync(API_DOC, "utf8");
    expect(withErrorTable(doc, errorTable())).toBe(doc);
  });

  it("gives every code a status and a meaning, and nothing else", () => {
    expect(Object.keys(ERROR_MEANING).sort()).toEqual(Object.keys(ERROR_STATUS).sort());
    const codes = [...errorTable().matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [
      m[1],
      Number(m[2]),
    ]);
    expect(codes).toEqual(Object.entries(ERROR_STATUS));
  });
});
