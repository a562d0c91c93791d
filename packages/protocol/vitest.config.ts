import { defineProject } from "vitest/config"

export default defineProject({
  test: { name: "@dockside/protocol", include: ["test/**/*.test.ts"] }
})
