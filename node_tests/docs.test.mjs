// The JavaScript blocks of docs/node.md run on Node as written (deno test
// --doc runs them on Deno).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const page = readFileSync(new URL("../docs/node.md", import.meta.url), "utf8");
const blocks = [...page.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((match) => match[1]);

test("docs/node.md has JavaScript blocks", () => {
  assert.equal(blocks.length, 2);
});

for (const [index, source] of blocks.entries()) {
  test(`docs/node.md block ${index + 1} runs on Node`, async () => {
    const { code, stderr } = await new Promise((resolve) => {
      execFile(
        process.execPath,
        ["--input-type=module", "-e", source],
        { cwd: HERE, timeout: 20_000 },
        (error, _stdout, stderr) => resolve({ code: error ? error.code ?? 1 : 0, stderr }),
      );
    });
    assert.equal(stderr, "");
    assert.equal(code, 0);
  });
}
