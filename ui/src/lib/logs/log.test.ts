import { describe, expect, it } from "vitest";
import { FakeBackend, ipcError, row } from "../../testing/fake-backend";
import { ContainerLog, MAX_LINES, sinceSeconds } from "./log.svelte";

const NOW = Date.UTC(2026, 10, 26, 12, 0, 0);

async function opened() {
  const backend = new FakeBackend();
  const log = new ContainerLog(backend, () => NOW);
  await log.show(row({ id: "c1", name: "web", host: "edge-1" }));
  return { backend, log, stream: [...backend.logStreams.keys()].at(-1)! };
}

describe("ContainerLog", () => {
  it("reads with the options given and splits batches into lines per stream", async () => {
    const { backend, log, stream } = await opened();
    expect(backend.logStreams.get(stream)).toMatchObject({ host: "edge-1", container: "c1", spec: { follow: true, tail: 1000, since: null, timestamps: false } });
    backend.emitLog(stream, { Lines: [[1, "one\ntw"], [2, "oops\n"], [1, "o\nthree"]] });
    expect(log.lines.map((l) => [l.stream, l.text])).toEqual([[1, "one"], [2, "oops"], [1, "two"]]);
    backend.emitLog(stream, "Ended");
    expect(log.lines.map((l) => l.text)).toEqual(["one", "oops", "two", "three"]);
    expect(log.state).toBe("ended");
  });

  it("saves through the backend with the view's options, never following, and says where", async () => {
    const { backend, log } = await opened();
    log.options.tail = null;
    log.options.since = "10m";
    log.options.timestamps = true;
    await log.save();
    expect(backend.savedLogs).toEqual([
      { host: "edge-1", container: "c1", spec: { follow: false, tail: null, since: NOW / 1000 - 600, timestamps: true }, path: "/home/user/Downloads/edge-1-c1.log" },
    ]);
    expect(log.saved).toEqual({ path: "/home/user/Downloads/edge-1-c1.log", bytes: 42 });
    expect(log.saving).toBe(false);
  });

  it("reports a failed save and refuses a bad since without asking the backend", async () => {
    const { backend, log } = await opened();
    backend.failures.set("logsSave", ipcError("unreachable", { host: "edge-1", url: "tcp://edge-1:2375", reason: "connection refused" }, "connection refused"));
    await log.save();
    expect(log.saved).toEqual({ error: expect.objectContaining({ code: "unreachable", fields: expect.objectContaining({ host: "edge-1" }), detail: "connection refused" }) });
    log.options.since = "yesterday";
    await log.save();
    expect(log.saved).toEqual({ error: { code: "bad_duration", message: expect.stringContaining("not a duration"), fields: { value: "yesterday" }, detail: null } });
    expect(backend.savedLogs).toHaveLength(0);
  });

  it("keeps at most MAX_LINES, dropping the oldest", async () => {
    const { backend, log, stream } = await opened();
    const many = Array.from({ length: MAX_LINES + 5 }, (_, i) => `line ${i}`).join("\n") + "\n";
    backend.emitLog(stream, { Lines: [[1, many]] });
    expect(log.lines).toHaveLength(MAX_LINES);
    expect(log.dropped).toBe(5);
    expect(log.lines[0].text).toBe("line 5");
  });

  it("holds lines while paused and shows them on resume", async () => {
    const { backend, log, stream } = await opened();
    log.togglePause();
    backend.emitLog(stream, { Lines: [[1, "a\nb\n"]] });
    expect(log.lines).toHaveLength(0);
    expect(log.held).toBe(2);
    log.togglePause();
    expect(log.lines.map((l) => l.text)).toEqual(["a", "b"]);
    expect(log.held).toBe(0);
  });

  it("finds lines case-insensitively and reloads with new options, closing the old stream", async () => {
    const { backend, log, stream } = await opened();
    backend.emitLog(stream, { Lines: [[1, "GET /cart 200\nPOST /pay 500\nGET /pay 200\n"]] });
    log.search = "PAY";
    expect(log.matches).toEqual([1, 2]);
    log.options.tail = null;
    log.options.since = "10m";
    log.options.follow = false;
    await log.reload();
    expect(backend.logStreams.get(stream)!.closed).toBe(true);
    const next = [...backend.logStreams.values()].at(-1)!;
    expect(next.spec).toMatchObject({ follow: false, tail: null, since: NOW / 1000 - 600 });
    expect(log.lines).toHaveLength(0);
    // A late batch of the old stream is ignored.
    backend.emitLog(stream, { Lines: [[1, "stale\n"]] });
    expect(log.lines).toHaveLength(0);
  });

  it("says what is wrong with a bad duration or a failed read", async () => {
    const { backend, log } = await opened();
    log.options.since = "yesterday";
    await log.reload();
    expect(log.state).toBe("failed");
    expect(log.error).toMatchObject({ code: "bad_duration", fields: { value: "yesterday" } });
    expect(log.error?.message).toContain("30s, 10m");
    log.options.since = "";
    backend.failures.set("logsOpen", ipcError("unreachable", { host: "edge-1", url: "tcp://edge-1:2375", reason: "connection refused" }, "connection refused"));
    await log.reload();
    expect(log.error?.code).toBe("unreachable");
    await log.reload();
    backend.emitLog([...backend.logStreams.keys()].at(-1)!, { Failed: "the link dropped" });
    expect(log.state).toBe("failed");
    expect(log.error?.message).toBe("the link dropped");
  });

  it("parses since durations", () => {
    expect(sinceSeconds("", NOW)).toBeNull();
    expect(sinceSeconds("90s", NOW)).toBe(NOW / 1000 - 90);
    expect(sinceSeconds("2h", NOW)).toBe(NOW / 1000 - 7200);
    expect(sinceSeconds("1d", NOW)).toBe(NOW / 1000 - 86400);
    expect(sinceSeconds("2 weeks", NOW)).toBeUndefined();
  });
});
