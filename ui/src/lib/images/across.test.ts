import { describe, expect, it } from "vitest";
import { imageRow } from "../../testing/fake-backend";
import { filterWords } from "$lib/objects/filter";
import { groupAcross, imageMatches, imageReference } from "./across";

describe("groupAcross", () => {
  const rows = [
    imageRow({ host: "edge-1", id: "sha256:aaa", tags: ["nginx:1.27"], created: "2025-03-01T10:00:00Z", containers: ["web"] }),
    imageRow({ host: "edge-2", id: "sha256:aaa", tags: ["nginx:1.27", "nginx:stable"], created: "2025-03-01T10:00:00Z", containers: ["web", "proxy"] }),
    imageRow({ host: "edge-1", id: "sha256:bbb", tags: [], created: "2025-02-01T10:00:00Z" }),
    imageRow({ host: "edge-2", id: "sha256:ccc", tags: ["redis:7"], created: null }),
  ];

  it("makes one row per image ID with its hosts, the fleet's hosts that lack it, and its users by host", () => {
    expect(groupAcross(rows, ["edge-1", "edge-2", "edge-3"])).toEqual([
      {
        id: "sha256:aaa",
        tags: ["nginx:1.27", "nginx:stable"],
        size: 4_400_000,
        created: "2025-03-01T10:00:00Z",
        hosts: ["edge-1", "edge-2"],
        lacking: ["edge-3"],
        containers: ["edge-1/web", "edge-2/web", "edge-2/proxy"],
        dangling: false,
      },
      { id: "sha256:bbb", tags: [], size: 4_400_000, created: "2025-02-01T10:00:00Z", hosts: ["edge-1"], lacking: ["edge-2", "edge-3"], containers: [], dangling: true },
      { id: "sha256:ccc", tags: ["redis:7"], size: 4_400_000, created: null, hosts: ["edge-2"], lacking: ["edge-1", "edge-3"], containers: [], dangling: false },
    ]);
  });

  it("is dangling only where no host has a tag for it", () => {
    const mixed = [imageRow({ host: "edge-1", id: "sha256:ddd", tags: [] }), imageRow({ host: "edge-2", id: "sha256:ddd", tags: ["app:1"] })];
    expect(groupAcross(mixed, []).map((image) => [image.tags, image.dangling])).toEqual([[["app:1"], false]]);
  });

  it("pushes and removes by the first tag, else by the id", () => {
    expect(imageReference({ id: "sha256:aaa", tags: ["nginx:1.27", "nginx:stable"] })).toBe("nginx:1.27");
    expect(imageReference({ id: "sha256:bbb", tags: [] })).toBe("sha256:bbb");
  });

  it("matches tags, short ids, hosts, containers and <none>", () => {
    const matching = (filter: string) => rows.filter((row) => imageMatches(row, filterWords(filter))).map((row) => `${row.host}/${row.id}`);
    expect(matching("stable")).toEqual(["edge-2/sha256:aaa"]);
    expect(matching("bbb")).toEqual(["edge-1/sha256:bbb"]);
    expect(matching("<none>")).toEqual(["edge-1/sha256:bbb"]);
    expect(matching("proxy edge-2")).toEqual(["edge-2/sha256:aaa"]);
    const across = groupAcross(rows, ["edge-1", "edge-2"]);
    expect(across.filter((image) => imageMatches(image, filterWords("edge-1/web"))).map((image) => image.id)).toEqual(["sha256:aaa"]);
  });
});
