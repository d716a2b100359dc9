import { describe, expect, it } from "vitest";
import { z } from "zod";
import { newExampleId } from "../service/core/ids.ts";

describe("example ids", () => {
  it("are version-7 UUIDs that the API's id schema takes", () => {
    const id = newExampleId();
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(z.uuid().safeParse(id).success).toBe(true);
  });

  it("sort by the time they were made, and differ within a millisecond", () => {
    const ids = [1_000, 2_000, 2_000, 3_000_000_000_000].map((t) => newExampleId(t));
    expect([...ids].sort()).toEqual([ids[0], ...[ids[1], ids[2]].sort(), ids[3]]);
    expect(ids[1]).not.toBe(ids[2]);
    expect(ids[3]?.slice(0, 13).replace("-", "")).toBe((3_000_000_000_000).toString(16).padStart(12, "0"));
  });
});
