/**
 * The committed types must be what openapi-typescript makes of the committed `openapi.json` (the
 * gateway's document; `tests/e2e/test_web_client_types.py` checks that one against the launched
 * gateway). Regenerate both with `make web-generate`.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { expect, test } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));

test("src/generated/openapi.ts is up to date with openapi.json", () => {
  const out = join(mkdtempSync(join(tmpdir(), "lectern-types-")), "openapi.ts");
  const cli = join(root, "node_modules", ".bin", "openapi-typescript");
  const hoisted = join(root, "..", "..", "node_modules", ".bin", "openapi-typescript");
  let bin = cli;
  try {
    readFileSync(cli);
  } catch {
    bin = hoisted;
  }
  execFileSync(bin, ["openapi.json", "--default-non-nullable", "false", "--output", out], { cwd: root, stdio: "pipe" });
  const committed = readFileSync(join(root, "src", "generated", "openapi.ts"), "utf8");
  const fresh = readFileSync(out, "utf8");
  expect(committed === fresh, "src/generated/openapi.ts is stale: run `make web-generate`").toBe(true);
}, 120_000);
