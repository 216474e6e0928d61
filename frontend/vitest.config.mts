import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Unit tests: plain modules in Node (fetch, Response, streams are built in).
export default defineConfig({
  resolve: { alias: { "@": fileURLToPath(new URL("./", import.meta.url)) } },
  test: { include: ["tests/unit/**/*.test.ts"], environment: "node" },
});
