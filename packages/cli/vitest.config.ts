import { defineProject } from "vitest/config"

export default defineProject({
  test: { name: "@dockside/cli", include: ["test/**/*.test.ts"] }
})
