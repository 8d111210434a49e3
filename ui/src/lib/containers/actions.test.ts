import { describe, expect, it } from "vitest";
import type { ContainerAction } from "$lib/ipc";
import { host, row } from "../../testing/fake-backend";
import { ACTIONS, actionAllowed, actionsBlockedReason, needsConfirmation, stateSignature } from "./actions";

describe("actionAllowed", () => {
  const allowed: Record<string, ContainerAction[]> = {
    running: ["stop", "restart", "pause", "kill", "remove"],
    paused: ["stop", "restart", "unpause", "remove"],
    exited: ["start", "restart", "remove"],
    created: ["start", "restart", "remove"],
    restarting: ["stop", "kill", "remove"],
    dead: ["remove"],
    removing: [],
  };
  it.each(Object.entries(allowed))("%s allows %j", (state, actions) => {
    expect(ACTIONS.filter((action) => actionAllowed(action, state))).toEqual(ACTIONS.filter((action) => actions.includes(action)));
  });
});

describe("needsConfirmation", () => {
  it("asks before stop, kill and remove only", () => {
    expect(ACTIONS.filter(needsConfirmation)).toEqual(["stop", "kill", "remove"]);
  });
});

describe("actionsBlockedReason", () => {
  it.each([
    ["online", null],
    ["offline", "actions.blocked.offline"],
    ["connecting", "actions.blocked.connecting"],
    ["never", "actions.blocked.never"],
  ] as const)("%s → %s", (status, key) => {
    expect(actionsBlockedReason(host({ id: 1, name: "edge-2", status }))?.key ?? null).toBe(key);
  });
  it("blocks a container whose host left the fleet", () => {
    expect(actionsBlockedReason(undefined)?.key).toBe("actions.blocked.unknownHost");
  });
});

describe("stateSignature", () => {
  it("changes with the state and with a restart, not with unrelated fields", () => {
    const running = row({ id: "a", state: "running", started_ms: 1 });
    expect(stateSignature({ ...running, image: "other" })).toBe(stateSignature(running));
    expect(stateSignature({ ...running, state: "exited" })).not.toBe(stateSignature(running));
    expect(stateSignature({ ...running, started_ms: 2 })).not.toBe(stateSignature(running));
  });
});
