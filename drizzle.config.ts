import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./service/store/schema.ts",
  out: "./migrations",
});
