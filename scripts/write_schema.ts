/**
 * Regenerates schema/policy.schema.json from the policy declaration schema
 * and schema/scenario.schema.json from the simulation's scenario schema.
 * Run: deno task schema
 */
import { policyJsonSchema } from "../src/policy/policy_declaration.ts";
import { scenarioJsonSchema } from "../src/sim/scenario_schema.ts";

for (
  const [file, schema] of [
    ["policy.schema.json", policyJsonSchema()],
    ["scenario.schema.json", scenarioJsonSchema()],
  ] as const
) {
  const path = new URL(`../schema/${file}`, import.meta.url);
  await Deno.writeTextFile(path, JSON.stringify(schema, null, 2) + "\n");
  console.log(`wrote ${path.pathname}`);
}
