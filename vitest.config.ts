import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    reporters: ["default", "./test/support/summary-reporter.ts"],
    globalSetup: ["./test/support/temp-root.ts"],
    // The local embedding model takes a few seconds to load on two cores.
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
