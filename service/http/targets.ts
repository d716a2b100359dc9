import { Hono } from "hono";
import { parseOrThrow, TargetName, TargetPatch, toStorePatch } from "../core/schemas.ts";
import { AppError } from "../errors.ts";
import type { TargetRecord } from "../store/example-store.ts";
import type { AppEnv, Deps } from "./context.ts";
import { readJson } from "./errors.ts";

function targetJson(t: TargetRecord) {
  return {
    name: t.name,
    input_price_per_mtok: t.inputPricePerMtok,
    output_price_per_mtok: t.outputPricePerMtok,
    enabled: t.enabled,
    examples: t.exampleCount,
  };
}

/** /admin/targets: list targets, set their prices and switch them on or off. */
export function targetRoutes(deps: Deps) {
  return new Hono<AppEnv>()
    .get("/", (c) => c.json({ targets: deps.store.listTargets().map(targetJson) }))
    .put("/:name{.+}", async (c) => {
      const name = parseOrThrow(TargetName, c.req.param("name"), ["name"]);
      const patch = parseOrThrow(TargetPatch, await readJson(c));
      const updated = deps.store.updateTarget(name, toStorePatch(patch));
      if (!updated) {
        throw new AppError("NOT_FOUND", `no target ${name}: a target exists once an example scores it`);
      }
      return c.json(targetJson(updated));
    });
}
