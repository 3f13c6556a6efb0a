/**
 * The `error.type` attribute: low-cardinality by construction.
 *
 * @module
 */

/**
 * The `error.type` of a failure: the error's `name` (its class), the status
 * code of a failing `Response` or status-carrying object, or `"_OTHER"`.
 * Never a message, URL or id, so metric cardinality stays bounded.
 */
export function errorType(error: unknown): string {
  if (error instanceof Response) return String(error.status);
  if (error instanceof Error) return error.name || "Error";
  if (typeof error === "object" && error !== null) {
    const status = (error as { status?: unknown }).status;
    if (typeof status === "number" && Number.isInteger(status)) return String(status);
  }
  return "_OTHER";
}
