// node --test: the designation's status as the primary operator reads it (evalsvc/web/designation.js).
import assert from "node:assert/strict";
import { test } from "node:test";
import { designationStatus } from "../../evalsvc/web/designation.js";

const seats = (...sources) => ({ seats: sources.map((source, index) => ({ index, source })) });

test("requested seats are 待审批 whatever an earlier decision said", () => {
  const earlier = { approved: false, seats: [0], reason: "不同意" };
  assert.deepEqual(designationStatus(seats("requested", "requested", null), earlier),
    { status: "requested", seats: [0, 1], reason: null });
});

test("the last decision, with the supervisor's reason, once nothing waits", () => {
  assert.deepEqual(designationStatus(seats("designated", null), { approved: true, seats: [0], reason: "同意" }),
    { status: "approved", seats: [0], reason: "同意" });
  assert.deepEqual(designationStatus(seats(null, null), { approved: false, seats: [1], reason: "理由不足" }),
    { status: "rejected", seats: [1], reason: "理由不足" });
  // Proposed but not submitted is not a request yet.
  assert.deepEqual(designationStatus(seats("proposed", null), null), { status: "none", seats: [], reason: null });
});

test("designated seats without the decision event (a snapshot) still read 已批准", () => {
  assert.deepEqual(designationStatus(seats("designated", "designated", null), null),
    { status: "approved", seats: [0, 1], reason: null });
});
