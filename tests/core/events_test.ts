import assert from "node:assert/strict";
import { EventSink, type ResilienceEvent } from "../../src/core/events.ts";

const ev: ResilienceEvent = { type: "success", policy: "p", timestamp: 1, attempt: 1 };

Deno.test("EventSink is inactive until a listener is added and after it is removed", () => {
  const sink = new EventSink();
  assert.equal(sink.active, false);
  const seen: ResilienceEvent[] = [];
  const remove = sink.add((e) => seen.push(e));
  assert.equal(sink.active, true);
  sink.emit(ev);
  remove();
  assert.equal(sink.active, false);
  sink.emit(ev);
  assert.deepEqual(seen, [ev]);
});

Deno.test("EventSink isolates a throwing listener from the others", () => {
  const seen: string[] = [];
  const sink = new EventSink((e) => seen.push(`first ${e.type}`));
  sink.add(() => {
    throw new Error("bug in listener");
  });
  sink.add((e) => seen.push(`third ${e.type}`));
  assert.doesNotThrow(() => sink.emit(ev));
  assert.deepEqual(seen, ["first success", "third success"]);
});

Deno.test("EventSink rejects a listener that is not a function", () => {
  const sink = new EventSink();
  assert.throws(() => sink.add("log" as never), {
    name: "TypeError",
    message: "onEvent must be a function: received string",
  });
});

Deno.test("a listener added while emitting does not see the current event", () => {
  const sink = new EventSink();
  const seen: string[] = [];
  sink.add(() => {
    sink.add(() => seen.push("late"));
  });
  sink.emit(ev);
  assert.deepEqual(seen, []);
  sink.emit(ev);
  assert.deepEqual(seen, ["late"]);
});
