import { describe, expect, it } from "vitest";
import { readInspect, shellJoin } from "./inspect";

const document = {
  Id: "abc",
  Created: "2025-03-03T14:00:00.123Z",
  Path: "/docker-entrypoint.sh",
  Args: ["nginx", "-g", "daemon off;"],
  State: {
    Status: "exited",
    ExitCode: 137,
    OOMKilled: true,
    Error: "",
    StartedAt: "2025-03-03T14:00:01Z",
    FinishedAt: "0001-01-01T00:00:00Z",
    Health: { Status: "unhealthy" },
  },
  Image: "sha256:0123456789abcdef",
  RestartCount: 3,
  HostConfig: { RestartPolicy: { Name: "on-failure" } },
  Mounts: [
    { Type: "bind", Source: "/srv/www", Destination: "/usr/share/nginx/html", RW: false },
    { Type: "volume", Name: "cache", Source: "", Destination: "/cache", RW: true },
  ],
  Config: {
    Image: "nginx:1.27",
    Cmd: ["nginx", "-g", "daemon off;"],
    Entrypoint: ["/docker-entrypoint.sh"],
    Env: ["PATH=/usr/bin", "MODE=prod"],
    Labels: { z: "last", a: "first" },
  },
  NetworkSettings: { Networks: { frontend: { IPAddress: "10.0.1.5", Gateway: "10.0.1.1", MacAddress: "02:42:0a:00:01:05" } } },
};

describe("readInspect", () => {
  it("reads what the detail panel shows", () => {
    const result = readInspect(JSON.stringify(document));
    if (!result.ok) throw new Error(result.error);
    const view = result.view;
    expect(view.state).toBe("exited");
    expect(view.exitCode).toBe(137);
    expect(view.oomKilled).toBe(true);
    expect(view.health).toBe("unhealthy");
    expect(view.image).toBe("nginx:1.27");
    expect(view.command).toEqual(["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]);
    expect(view.cmd).toEqual(["nginx", "-g", "daemon off;"]);
    expect(view.entrypoint).toEqual(["/docker-entrypoint.sh"]);
    expect(view.env).toEqual(["PATH=/usr/bin", "MODE=prod"]);
    expect(view.mounts).toEqual([
      { type: "bind", source: "/srv/www", destination: "/usr/share/nginx/html", readWrite: false },
      { type: "volume", source: "cache", destination: "/cache", readWrite: true },
    ]);
    expect(view.networks).toEqual([{ name: "frontend", ipAddress: "10.0.1.5", gateway: "10.0.1.1", macAddress: "02:42:0a:00:01:05" }]);
    expect(view.labels).toEqual([
      ["a", "first"],
      ["z", "last"],
    ]);
    expect(view.restartCount).toBe(3);
    expect(view.restartPolicy).toBe("on-failure");
    expect(view.started).toBe("2025-03-03T14:00:01Z");
    expect(view.finished).toBe(null);
    expect(JSON.parse(view.pretty)).toEqual(document);
    expect(view.pretty).toContain('\n  "Id": "abc"');
  });

  it("reads a sparse document as empty values", () => {
    const result = readInspect("{}");
    expect(result.ok && result.view).toMatchObject({ state: "", exitCode: null, command: [], cmd: null, env: [], mounts: [], networks: [] });
  });

  it("reports JSON it cannot parse, keeping the text", () => {
    const result = readInspect("{not json");
    expect(result.ok).toBe(false);
    expect(!result.ok && result.raw).toBe("{not json");
  });
});

describe("shellJoin", () => {
  it.each([
    [["nginx", "-g", "daemon off;"], "nginx -g 'daemon off;'"],
    [["sh", "-c", "echo 'hi'"], "sh -c 'echo '\\''hi'\\'''"],
    [["a", ""], "a ''"],
  ])("%j → %s", (words, expected) => {
    expect(shellJoin(words)).toBe(expected);
  });
});
