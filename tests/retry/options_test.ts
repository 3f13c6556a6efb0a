// Retry options: class-keyed records accept only the error classes, as own keys.
import { ERROR_CLASSES } from "../../src/core/error_class.ts";
import { resolveRetryOptions } from "../../src/retry/retry_options.ts";
import { constant } from "../../src/backoff/constant.ts";
import { policy, type PolicyOptions } from "../../src/policy/policy.ts";
import { throwsExactly } from "../_helpers.ts";

const PROTOTYPE_NAMES = ["constructor", "toString", "hasOwnProperty", "valueOf", "__proto__"];
const RULE = `one of the error classes (${ERROR_CLASSES.join(", ")})`;

for (const key of PROTOTYPE_NAMES) {
  Deno.test(`retry.budgets and retry.backoffByClass reject a key named ${key}`, () => {
    // JSON.parse makes "__proto__" an own key, as a config file would.
    const budgets = JSON.parse(`{ "${key}": 2 }`);
    throwsExactly(
      () => policy("p", { retry: { budgets } } as PolicyOptions),
      TypeError,
      `retry.budgets.${key} must be ${RULE}: received "${key}"`,
    );
    throwsExactly(
      () => resolveRetryOptions({ budgets }),
      TypeError,
      `retry.budgets.${key} must be ${RULE}: received "${key}"`,
    );
    const backoffByClass = JSON.parse(`{ "${key}": 0 }`);
    backoffByClass[key] = constant(1);
    throwsExactly(
      () => policy("p", { retry: { backoffByClass } } as PolicyOptions),
      TypeError,
      `retry.backoffByClass.${key} must be ${RULE}: received "${key}"`,
    );
  });
}

Deno.test("policy() rejects retry.budgets { constructor: 2 }", () => {
  throwsExactly(
    () => policy("p", { retry: { budgets: { constructor: 2 } } } as unknown as PolicyOptions),
    TypeError,
    `retry.budgets.constructor must be ${RULE}: received "constructor"`,
  );
});
