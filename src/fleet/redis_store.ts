/**
 * A {@link FleetStateStore} on Redis (npm `redis`, node-redis).
 *
 * Keys, under `<prefix>:<key>`: `:state` (the circuit record as JSON,
 * replaced by a Lua compare-and-set that also publishes on `:changed`),
 * `:lease` (a hash of probe leases, claimed by a Lua script), `:reports` (a
 * hash of each instance's counts: one `HSET` + `PEXPIRE` per sync,
 * pipelined with the reads).
 *
 * @module
 */

// Pinned here, not in deno.json's imports: `deno task` installs every import-map package, so an
// entry there made a first `deno task demo` download node-redis and its 5 packages (README.md, "Development").
import { createClient } from "npm:redis@6.3.1";
import { backgroundTimer } from "../core/background_timer.ts";
import { MAX_TIMER_DELAY_MS, systemClock } from "../core/clock.ts";
import {
  knownKeys,
  nameOption,
  numberBetween,
  objectValue,
  rangeError,
  typeError,
} from "../core/validate.ts";
import type {
  FleetCircuitRecord,
  FleetPeer,
  FleetReport,
  FleetStateStore,
  FleetTransitionResult,
  FleetView,
} from "./store.ts";

/** The part of a node-redis client the store uses (`createClient()` returns one). */
export interface RedisClientLike {
  /** Sends one command (`["HSET", key, field, value]`) and resolves with its reply. */
  sendCommand(args: string[]): Promise<unknown>;
  /** A second client on the same server (for the subscription). */
  duplicate(): RedisClientLike;
  /** Opens the connection. */
  connect(): Promise<unknown>;
  /** Subscribes to `channel`, calling `listener` with each message. */
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  /** Ends the subscription to `channel`. */
  unsubscribe(channel: string): Promise<unknown>;
  /** Listens to the client's connection errors. */
  on(event: "error", listener: (error: unknown) => void): unknown;
  /** Closes the connection at once. */
  destroy(): void;
  /** Closes the connection after pending replies (newer clients). */
  close?(): Promise<unknown>;
}

const CLIENT_METHODS = [
  "sendCommand",
  "duplicate",
  "connect",
  "subscribe",
  "unsubscribe",
  "on",
  "destroy",
];

/** Longest wait between two connection attempts of a client the store made. */
const RECONNECT_MAX_MS = 500;

/** Default {@link RedisStateStoreOptions.timeoutMs}. */
const DEFAULT_TIMEOUT_MS = 10_000;

/** Options of {@link redisStateStore}: one of `url` or `client`. */
export interface RedisStateStoreOptions {
  /** `redis://[user:password@]host:port[/db]`; the store connects and disconnects. */
  url?: string;
  /** A connected node-redis client the store uses and does not close. */
  client?: RedisClientLike;
  /** First part of every key. Default `"bulwark"`. */
  prefix?: string;
  /**
   * With `url`: the connect timeout, and how long the connection may stay
   * silent before it is dropped and made again (a frozen server or a
   * black-holed path: the commands waiting on it then fail). A sync
   * interval longer than this reconnects at each sync. Default 10,000.
   */
  timeoutMs?: number;
}

/** Compare-and-set of the circuit record; publishes the new one. Returns the stored JSON after. */
const TRANSITION = `
local cur = redis.call('GET', KEYS[1])
local v = 0
if cur then v = cjson.decode(cur).version end
if v ~= tonumber(ARGV[1]) then return {0, cur or false} end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('PUBLISH', KEYS[2], ARGV[2])
return {1, ARGV[2]}`;

/** Claims probe leases of the open state ARGV[2]: id, version, want, max, now, ttlMs. */
const LEASE = `
local st = redis.call('GET', KEYS[2])
local v = 0
if st then v = cjson.decode(st).version end
if v ~= tonumber(ARGV[2]) then return 0 end
if redis.call('HGET', KEYS[1], '_v') ~= ARGV[2] then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], '_v', ARGV[2])
end
local now = tonumber(ARGV[5])
local all = redis.call('HGETALL', KEYS[1])
local used = 0
for i = 1, #all, 2 do
  if all[i] ~= '_v' then
    local n, exp = string.match(all[i + 1], '^(%d+):(%d+)$')
    n = tonumber(n)
    if tonumber(exp) <= now then redis.call('HDEL', KEYS[1], all[i])
    elseif all[i] == ARGV[1] then
      redis.call('HSET', KEYS[1], ARGV[1], n .. ':' .. (now + tonumber(ARGV[6])))
      redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[6]) * 2)
      return n
    else used = used + n end
  end
end
local n = math.min(tonumber(ARGV[3]), tonumber(ARGV[4]) - used)
if n <= 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], n .. ':' .. (now + tonumber(ARGV[6])))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[6]) * 2)
return n`;

/** A flat `[field, value, ...]` reply or a map reply, as entries. */
function entries(reply: unknown): [string, string][] {
  if (Array.isArray(reply)) {
    const out: [string, string][] = [];
    for (let i = 0; i + 1 < reply.length; i += 2) {
      out.push([String(reply[i]), String(reply[i + 1])]);
    }
    return out;
  }
  if (reply instanceof Map) return [...reply].map(([k, v]) => [String(k), String(v)]);
  if (typeof reply === "object" && reply !== null) {
    return Object.entries(reply).map(([k, v]) => [k, String(v)]);
  }
  return [];
}

/** A stored report, or undefined when the field is not one (garbage, another version's). */
function reportOf(json: string): FleetReport | undefined {
  try {
    const report = JSON.parse(json) as FleetReport | null;
    return typeof report?.at === "number" ? report : undefined;
  } catch {
    return undefined;
  }
}

function parse<T>(json: unknown): T | null {
  return typeof json === "string" ? JSON.parse(json) as T : null;
}

/**
 * Connects a fleet state store to Redis. With `url`, the store makes its
 * own client with the offline queue off and resolves after its first
 * connection attempt (at most `timeoutMs`), even while Redis is down:
 * commands fail at once while Redis is unreachable (the parts then decide
 * on local state) and the client reconnects in the background until
 * `close()`. A server that stops answering (frozen, a black-holed path) has
 * its connection dropped after `timeoutMs` of silence.
 *
 * @example Pointing the store at your Redis
 * ```ts ignore
 * import { policy } from "@bulwark/bulwark";
 * import { redisStateStore } from "@bulwark/bulwark/fleet";
 *
 * const store = await redisStateStore({ url: Deno.env.get("REDIS_URL")! });
 * const payments = policy("payments", {
 *   circuit: { kind: "count", size: 100, threshold: 0.5, breakMs: 30_000 },
 *   fleet: { store, syncIntervalMs: 1_000 },
 * });
 * await payments.execute(() => fetch("https://payments.example/charge"));
 * await payments.fleet.close();
 * await store.close();
 * ```
 */
export async function redisStateStore(options: RedisStateStoreOptions): Promise<FleetStateStore> {
  await Promise.resolve(); // bad options reject (the function is async), they do not throw
  objectValue("options", options);
  knownKeys("", options, ["url", "client", "prefix", "timeoutMs"]);
  if ((options.url === undefined) === (options.client === undefined)) {
    typeError("url", "given, or else client (exactly one of them)", options.url);
  }
  if (options.url !== undefined) {
    nameOption("url", options.url);
    if (!/^rediss?:\/\//i.test(options.url)) {
      rangeError("url", "a redis:// or rediss:// URL", options.url);
    }
  }
  if (options.client !== undefined) {
    const given = objectValue("client", options.client) as unknown as Record<string, unknown>;
    if (CLIENT_METHODS.some((m) => typeof given[m] !== "function")) {
      typeError("client", `a node-redis client (${CLIENT_METHODS.join(", ")})`, given);
    }
  }
  const prefix = nameOption("prefix", options.prefix, "bulwark");
  const timeoutMs = options.timeoutMs === undefined
    ? DEFAULT_TIMEOUT_MS
    : numberBetween("timeoutMs", options.timeoutMs, 1, MAX_TIMER_DELAY_MS);
  let client = options.client;
  const owned = client === undefined;
  /** The first connection (with its retries); settles at the latest after `close()`. */
  let connecting: Promise<void> = Promise.resolve();
  if (client === undefined) {
    const made = createClient({
      url: options.url,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: timeoutMs,
        socketTimeout: timeoutMs,
        // Retries after 50, 100, 200, ... ms, at most RECONNECT_MAX_MS: what close() may wait.
        reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, RECONNECT_MAX_MS),
      },
    }) as unknown;
    const own = made as RedisClientLike;
    client = own;
    // Waits for the first attempt only (or timeoutMs): while Redis is down, the client goes on
    // reconnecting in the background and commands fail at once (failed syncs) until it is up.
    await new Promise<void>((resolve) => {
      const timer = backgroundTimer(systemClock, resolve, timeoutMs);
      const done = () => {
        timer.cancel();
        resolve();
      };
      own.on("error", done); // also how errors are reported: through the failed commands
      connecting = own.connect().then(done, done);
    });
  }
  const redis = client;
  let subscriber: RedisClientLike | undefined;
  let subscribing: Promise<unknown> | undefined;
  const k = (key: string, part: string) => `${prefix}:${key}:${part}`;

  return {
    async report(key, instanceId, report, ttlMs): Promise<FleetView> {
      const reports = k(key, "reports");
      const [, , all, state] = await Promise.all([
        redis.sendCommand(["HSET", reports, instanceId, JSON.stringify(report)]),
        redis.sendCommand(["PEXPIRE", reports, String(Math.ceil(ttlMs))]),
        redis.sendCommand(["HGETALL", reports]),
        redis.sendCommand(["GET", k(key, "state")]),
      ]);
      const peers: FleetPeer[] = [];
      const gone: string[] = [];
      const oldest = report.at - ttlMs;
      for (const [id, json] of entries(all)) {
        const peer = reportOf(json);
        if (peer === undefined || peer.at < oldest) gone.push(id);
        else peers.push({ instanceId: id, report: peer });
      }
      // The hash outlives its fields (every write renews its PEXPIRE): remove those of instances gone.
      if (gone.length > 0) await redis.sendCommand(["HDEL", reports, ...gone]);
      return { state: parse<FleetCircuitRecord>(state), peers };
    },
    async transition(key, expected, next): Promise<FleetTransitionResult> {
      const reply = await redis.sendCommand([
        "EVAL",
        TRANSITION,
        "2",
        k(key, "state"),
        k(key, "changed"),
        String(expected),
        JSON.stringify(next),
      ]) as [number, unknown];
      return { won: reply[0] === 1, record: parse<FleetCircuitRecord>(reply[1]) };
    },
    async lease(key, instanceId, { version, want, max, now, ttlMs }): Promise<number> {
      const reply = await redis.sendCommand([
        "EVAL",
        LEASE,
        "2",
        k(key, "lease"),
        k(key, "state"),
        instanceId,
        String(version),
        String(want),
        String(max),
        String(Math.floor(now)),
        String(Math.ceil(ttlMs)),
      ]);
      return Number(reply);
    },
    watch(key, onChange): () => void {
      const channel = k(key, "changed");
      if (subscriber === undefined) {
        subscriber = redis.duplicate();
        subscriber.on("error", () => {});
        subscribing = subscriber.connect();
      }
      const sub = subscriber;
      const ready = subscribing!.then(() => sub.subscribe(channel, () => onChange()));
      ready.catch(() => {}); // no pub/sub: the periodic sync still adopts transitions
      return () => {
        ready.then(() => sub.unsubscribe(channel)).catch(() => {});
      };
    },
    async close(): Promise<void> {
      const sub = subscriber;
      subscriber = undefined;
      if (sub !== undefined) {
        await subscribing?.catch(() => {});
        sub.destroy();
      }
      if (owned) {
        redis.destroy();
        await connecting; // a retry's wait under way ends (node-redis cannot cancel it)
      }
    },
  };
}
