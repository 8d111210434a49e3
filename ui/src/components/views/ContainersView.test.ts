import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { flushSync, mount, unmount } from "svelte";
import { appContext } from "$lib/context";
import { Fleet } from "$lib/fleet/fleet.svelte";
import { ContainerActions } from "$lib/containers/pending.svelte";
import { ContainersTable } from "$lib/containers/table.svelte";
import { FakeBackend, host, row } from "../../testing/fake-backend";
import ContainersView from "./ContainersView.svelte";

const ROWS = 10_000;

function fleetOf(count: number): FakeBackend {
  const backend = new FakeBackend();
  backend.hosts = [host({ id: 1, name: "edge-1" }), host({ id: 2, name: "edge-2", status: "offline", last_error: "connection refused" })];
  for (let index = 0; index < count; index++) {
    const hostId = index % 2 === 0 ? 1 : 2;
    backend.rows.push(
      row({
        id: `c${String(index).padStart(5, "0")}`,
        name: `app-${index}`,
        host_id: hostId,
        host: hostId === 1 ? "edge-1" : "edge-2",
        image: index % 10 === 0 ? "redis:7" : "nginx:1.27",
        state: index % 3 === 0 ? "exited" : "running",
        ips: { bridge: `10.${Math.floor(index / 65536)}.${Math.floor(index / 256) % 256}.${index % 256}` },
        labels: { tier: index % 4 === 0 ? "db" : "web" },
      }),
    );
  }
  return backend;
}

describe("ContainersView", () => {
  let target: HTMLElement;
  let backend: FakeBackend;
  let fleet: Fleet;
  let table: ContainersTable;
  let frames: (() => void)[];
  let view: ReturnType<typeof mount>;

  const rows = () => [...target.querySelectorAll<HTMLElement>("[data-testid='container-row']")];
  const rowNamed = (name: string) => target.querySelector<HTMLElement>(`[data-testid='container-row'][data-name='${name}']`);
  const count = () => target.querySelector("[data-testid='container-count']")?.textContent ?? "";
  const grid = () => target.querySelector<HTMLElement>("[data-testid='container-table']")!;
  const detail = () => target.querySelector<HTMLElement>("[data-testid='container-detail']");
  const frame = () => {
    frames.splice(0).forEach((flush) => flush());
    flushSync();
  };
  const type = (text: string) => {
    const input = target.querySelector<HTMLInputElement>("[data-testid='container-search']")!;
    input.value = text;
    input.dispatchEvent(new Event("input", { bubbles: true }));
    flushSync();
  };
  const key = (name: string) => {
    grid().dispatchEvent(new KeyboardEvent("keydown", { key: name, bubbles: true }));
    flushSync();
  };
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

  beforeEach(async () => {
    backend = fleetOf(ROWS);
    frames = [];
    fleet = new Fleet(backend, { scheduleFrame: (flush) => frames.push(flush) });
    await fleet.start();
    table = new ContainersTable(fleet);
    target = document.createElement("div");
    document.body.append(target);
    view = mount(ContainersView, {
      target,
      props: { table },
      context: appContext({ backend, fleet, actions: new ContainerActions(backend) }),
    });
    flushSync();
  });

  afterEach(() => {
    unmount(view);
    target.remove();
  });

  it("renders only a window of the 10,000 rows, with a spacer for the rest", () => {
    const rendered = rows();
    expect(rendered.length).toBeGreaterThan(10);
    expect(rendered.length).toBeLessThan(100);
    expect(count()).toContain("10,000");
    expect(grid().getAttribute("aria-rowcount")).toBe(String(ROWS + 1));
    const spacer = grid().querySelector<HTMLElement>(".spacer")!;
    expect(spacer.style.height).toBe(`${ROWS * 30}px`);
    // Sorted by name, naturally: app-0, app-1, app-2, ...
    expect(rendered.slice(0, 3).map((r) => r.dataset.name)).toEqual(["app-0", "app-1", "app-2"]);
    expect(rendered[0].getAttribute("aria-rowindex")).toBe("2");
  });

  it("renders the rows at the scroll position", () => {
    grid().scrollTop = 150_000;
    grid().dispatchEvent(new Event("scroll"));
    flushSync();
    const rendered = rows();
    expect(rendered.length).toBeLessThan(100);
    const indexes = rendered.map((r) => Number(r.getAttribute("aria-rowindex")) - 2);
    expect(Math.min(...indexes)).toBeGreaterThan(4_950);
    expect(Math.max(...indexes)).toBeLessThan(5_100);
    expect(indexes).toContain(5_000);
  });

  it("narrows the rows and the count with a search", () => {
    type("image:redis state:exited");
    // Every 10th row is redis, every 3rd exited: multiples of 30 → 334 of 10,000.
    expect(count()).toContain("334");
    expect(count()).toContain("10,000");
    expect(rows().every((r) => r.dataset.state === "exited")).toBe(true);
    type("app-4242");
    expect(rows().map((r) => r.dataset.name)).toEqual(["app-4242"]);
    type("label:tier=db host:edge-1 -state:exited");
    // Multiples of 4 (db, edge-1 since even) that are not multiples of 3.
    const expected = Array.from({ length: ROWS }, (_, i) => i).filter((i) => i % 4 === 0 && i % 3 !== 0).length;
    expect(count()).toContain(expected.toLocaleString("en"));
  });

  it("applies a patch to the row in place, without reading the list again", () => {
    const before = rowNamed("app-1")!;
    expect(before.dataset.state).toBe("running");
    const patched = { ...backend.rows[1], state: "paused" };
    backend.emitPatch({ host_id: 2, replace: false, upsert: [patched], remove: [] });
    frame();
    expect(rowNamed("app-1")!.dataset.state).toBe("paused");
    backend.emitPatch({ host_id: 1, replace: false, upsert: [], remove: [backend.rows[0].id] });
    frame();
    expect(rowNamed("app-0")).toBeNull();
    expect(count()).toContain("9,999");
    expect(backend.calls.filter((call) => call === "containers")).toHaveLength(1);
  });

  it("moves the selection with the keyboard and opens and closes the detail", async () => {
    const search = target.querySelector<HTMLInputElement>("[data-testid='container-search']")!;
    search.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowDown", bubbles: true }));
    flushSync();
    expect(document.activeElement).toBe(grid());
    expect(target.querySelector("[aria-selected='true']")?.getAttribute("data-name")).toBe("app-0");
    table.selectedKey = null;
    flushSync();
    key("ArrowDown");
    expect(target.querySelector("[aria-selected='true']")?.getAttribute("data-name")).toBe("app-0");
    key("ArrowDown");
    key("ArrowDown");
    key("ArrowUp");
    expect(target.querySelector("[aria-selected='true']")?.getAttribute("data-name")).toBe("app-1");
    key("End");
    expect(table.selectedIndex).toBe(ROWS - 1);
    expect(target.querySelector("[aria-selected='true']")?.getAttribute("data-name")).toBe(`app-${ROWS - 1}`);
    key("Home");
    key("PageDown");
    expect(table.selectedIndex).toBe(table.list.pageSize);
    key("Enter");
    await settle();
    flushSync();
    expect(detail()?.dataset.state).toBe(table.openRow?.state);
    expect(backend.calls).toContain("containerDetail");
    key("Escape");
    expect(detail()).toBeNull();
  });

  it("fetches the detail again when a patch for that container arrives", async () => {
    rowNamed("app-2")!.click();
    await settle();
    flushSync();
    const fetches = () => backend.calls.filter((call) => call === "containerDetail").length;
    expect(fetches()).toBe(1);
    backend.emitPatch({ host_id: 1, replace: false, upsert: [{ ...backend.rows[2], state: "running", started_ms: Date.now() }], remove: [] });
    frame();
    await settle();
    expect(fetches()).toBe(2);
    // A patch for another container leaves the open detail alone.
    backend.emitPatch({ host_id: 1, replace: false, upsert: [{ ...backend.rows[4], state: "paused" }], remove: [] });
    frame();
    await settle();
    expect(fetches()).toBe(2);
  });
});
