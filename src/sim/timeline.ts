/**
 * Per-second counters: one row per simulated second, so a run's memory
 * grows with its duration, never with its number of requests.
 *
 * @module
 */

/**
 * Counts per second for a fixed set of columns. Row `i` covers virtual time
 * [i·1000, (i+1)·1000) ms.
 */
export class Timeline<C extends string> {
  readonly #columns: readonly C[];
  readonly #rows = new Map<C, number[]>();

  /** Creates an empty timeline with these columns. */
  constructor(columns: readonly C[]) {
    this.#columns = columns;
    for (const c of columns) this.#rows.set(c, []);
  }

  /** Adds `n` (default 1) to `column` in the row of time `nowMs`. */
  add(column: C, nowMs: number, n = 1): void {
    const values = this.#rows.get(column)!;
    const i = Math.floor(nowMs / 1000);
    while (values.length <= i) values.push(0);
    values[i] += n;
  }

  /** Sets `column` in row `second` (a gauge sampled at the end of the second). */
  set(column: C, second: number, value: number): void {
    const values = this.#rows.get(column)!;
    while (values.length <= second) values.push(0);
    values[second] = value;
  }

  /** Rows `0 .. seconds-1` as objects `{ t, ...columns }` (t in seconds). */
  rows(seconds: number): Record<"t" | C, number>[] {
    const out: Record<"t" | C, number>[] = [];
    for (let i = 0; i < seconds; i++) {
      const row = { t: i } as Record<"t" | C, number>;
      for (const c of this.#columns) row[c] = this.#rows.get(c)![i] ?? 0;
      out.push(row);
    }
    return out;
  }
}
