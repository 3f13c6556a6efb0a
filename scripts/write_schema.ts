/**
 * Regenerates schema/policy.schema.json from the policy declaration schema.
 * Run: deno task schema
 */
import { policyJsonSchema } from "../src/policy/policy_declaration.ts";

const path = new URL("../schema/policy.schema.json", import.meta.url);
await Deno.writeTextFile(path, JSON.stringify(policyJsonSchema(), null, 2) + "\n");
console.log(`wrote ${path.pathname}`);
