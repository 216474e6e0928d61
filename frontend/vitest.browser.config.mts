import { defineConfig } from "vitest/config";

// Browser tests: one file, one real stack, one chromium; steps run in order.
export default defineConfig({
  test: {
    include: ["tests/browser/**/*.test.ts"],
    environment: "node",
    testTimeout: 60_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    // expect.poll waits for the backend or the page; a busy CI machine can be slow.
    expect: { poll: { timeout: 20_000, interval: 100 } },
  },
});
