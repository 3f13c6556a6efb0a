/**
 * A policy declared as JSON: a valid declaration builds a working policy,
 * and an invalid one is rejected with every problem at its JSON path.
 *
 * Run: deno run examples/policy_json.ts
 */
import { PolicyDeclarationError, policyFromJSON, TransientError } from "../mod.ts";

const declaration = `{
  "deadlineMs": 2000,
  "retry": {
    "maxAttempts": 4,
    "budgets": { "transient": 3, "permanent": 0 },
    "backoff": { "type": "exponential", "baseMs": 10, "maxMs": 100 }
  },
  "circuit": { "kind": "consecutive", "threshold": 5, "breakMs": 30000 },
  "telemetry": false
}`;

const inventory = policyFromJSON("inventory", declaration);
let attempts = 0;
const stock = await inventory.execute(() => {
  attempts++;
  if (attempts < 3) throw new TransientError("inventory service hiccup");
  return 42;
});
console.log(`declared policy: ${stock} in stock after ${attempts} attempts`);

try {
  policyFromJSON("broken", {
    deadlineMs: -5,
    retry: { maxAtempts: 3, backoff: { type: "exponential", baseMs: -1 } },
    circuit: { kind: "count", size: 10, threshold: 1.5 },
  });
} catch (error) {
  if (!(error instanceof PolicyDeclarationError)) throw error;
  console.log(error.message);
}
