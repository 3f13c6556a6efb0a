/**
 * Option validation shared by every part. Messages follow one shape,
 * `"<option> must be <rule>: received <value>"`, so that a user (or
 * `policyFromJSON`) can point at the offending field.
 *
 * @module
 */

/** Renders a received value for an error message. */
export function describeValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value === undefined) {
    return String(value);
  }
  if (value === null) return "null";
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "an array";
  try {
    const json = JSON.stringify(value);
    if (json !== undefined) return json.length > 60 ? `${json.slice(0, 57)}...` : json;
  } catch {
    // fall through: circular or otherwise unprintable
  }
  return typeof value;
}

/** Joins an option path and a key: `optionPath("retry", "maxAttempts")` is `"retry.maxAttempts"`. */
export function optionPath(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

/** Throws a `RangeError` naming the option, the rule and the value. */
export function rangeError(name: string, rule: string, value: unknown): never {
  throw new RangeError(`${name} must be ${rule}: received ${describeValue(value)}`);
}

/** Throws a `TypeError` naming the option, the rule and the value. */
export function typeError(name: string, rule: string, value: unknown): never {
  throw new TypeError(`${name} must be ${rule}: received ${describeValue(value)}`);
}

/** Asserts an integer >= `min`; returns it. */
export function integerAtLeast(name: string, value: unknown, min: number): number {
  if (typeof value !== "number") typeError(name, `an integer >= ${min}`, value);
  if (!Number.isInteger(value) || value < min) rangeError(name, `an integer >= ${min}`, value);
  return value;
}

/**
 * Asserts an integer in the closed range [min, max]; returns it. Throws
 * `TypeError` for a non-number and `RangeError` otherwise, both
 * `<option> must be an integer between <min> and <max>: received <value>`.
 */
export function integerBetween(name: string, value: unknown, min: number, max: number): number {
  const rule = `an integer between ${min} and ${max}`;
  if (typeof value !== "number") typeError(name, rule, value);
  if (!Number.isInteger(value) || value < min || value > max) rangeError(name, rule, value);
  return value;
}

/** Asserts a finite number >= `min`; returns it. */
export function numberAtLeast(name: string, value: unknown, min: number): number {
  if (typeof value !== "number") typeError(name, `a number >= ${min}`, value);
  if (!Number.isFinite(value) || value < min) rangeError(name, `a number >= ${min}`, value);
  return value;
}

/** Asserts a finite number > `min`; returns it. */
export function numberAbove(name: string, value: unknown, min: number): number {
  if (typeof value !== "number") typeError(name, `a number > ${min}`, value);
  if (!Number.isFinite(value) || value <= min) rangeError(name, `a number > ${min}`, value);
  return value;
}

/** Asserts a number in the closed range [min, max]; returns it. */
export function numberBetween(name: string, value: unknown, min: number, max: number): number {
  const rule = `a number between ${min} and ${max}`;
  if (typeof value !== "number") typeError(name, rule, value);
  if (!(value >= min && value <= max)) rangeError(name, rule, value);
  return value;
}

/**
 * Validates a `name` option: a string that is not empty once trimmed (so a
 * name shows up in events, errors and telemetry). Returns `fallback` when
 * `value` is `undefined` and a fallback is given; otherwise throws
 * `TypeError: <option> must be a non-empty string: received <value>`.
 */
export function nameOption(option: string, value: unknown, fallback?: string): string {
  const name = value === undefined && fallback !== undefined ? fallback : value;
  if (typeof name !== "string" || name.trim() === "") typeError(option, "a non-empty string", name);
  return name;
}

/** Asserts a function; returns it. */
export function functionValue<F>(name: string, value: F): F {
  if (typeof value !== "function") typeError(name, "a function", value);
  return value;
}

/** Asserts a plain object (not null, not an array); returns it. */
export function objectValue<T>(name: string, value: T): T {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    typeError(name, "an object", value);
  }
  return value;
}

/** Asserts an `AbortSignal` or `undefined`; returns it. */
export function optionalSignal(name: string, value: unknown): AbortSignal | undefined {
  if (value !== undefined && !(value instanceof AbortSignal)) {
    typeError(name, "an AbortSignal", value);
  }
  return value as AbortSignal | undefined;
}

/** Throws the `TypeError` of the one null rule: an option set to `null` (never "the default"). */
export function nullOption(name: string): never {
  return typeError(name, "left out for its default, not null", null);
}

/**
 * Throws a `TypeError` for the first key of `value` not in `known` (catches
 * typos). Only the listed names are accepted: a key named `constructor` or
 * `__proto__` is unknown like any other. A known option set to `null` is a
 * `TypeError` too: one rule for every option, `null` never means "the
 * default" (leave the option out for that). Data whose fields may be null
 * (a saved snapshot) names those fields in `nullable`.
 */
export function knownKeys(
  name: string,
  value: object,
  known: readonly string[],
  nullable: readonly string[] = [],
): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new TypeError(
        `${optionPath(name, key)} is not a known option (expected one of: ${known.join(", ")})`,
      );
    }
    if ((value as Record<string, unknown>)[key] === null && !nullable.includes(key)) {
      nullOption(optionPath(name, key));
    }
  }
}

/**
 * Runs `build` (a nested part's constructor, say) and prefixes the option
 * names in its `TypeError`/`RangeError` messages with `path`, so that
 * `threshold must be ...` reads `circuit.threshold must be ...`.
 */
export function under<T>(path: string, build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (error instanceof RangeError) throw new RangeError(`${path}.${error.message}`);
    if (error instanceof TypeError) throw new TypeError(`${path}.${error.message}`);
    throw error;
  }
}
