import { describe, expect, it } from "vitest";
import { FakeBackend, gate, ipcError, transfer } from "../../testing/fake-backend";
import { Transfers } from "./transfers.svelte";

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("Transfers", () => {
  it("listens, then reads the list; updates heard before it answers land on top, newest first", async () => {
    const backend = new FakeBackend();
    backend.transferList = [transfer({ id: 1, state: "done" }), transfer({ id: 2 })];
    const held = gate();
    const list = backend.transfers.bind(backend);
    backend.transfers = async () => {
      const answer = await list();
      await held.promise;
      return answer;
    };
    const transfers = new Transfers(backend);
    transfers.start();
    await settle();
    backend.emitTransfer(transfer({ id: 2, layers: [{ id: "l1", status: "Downloading", current: 5, total: 10 }] }));
    backend.emitTransfer(transfer({ id: 3, kind: "push", host: "edge-2", from: "edge-1" }));
    expect(transfers.list).toEqual([]);
    held.open();
    await settle();
    expect(transfers.list.map((t) => [t.id, t.state])).toEqual([
      [3, "running"],
      [2, "running"],
      [1, "done"],
    ]);
    expect(transfers.views[1].fraction).toBe(0.5);
    expect(transfers.running).toBe(2);
  });

  it("keeps a layer's size after Docker stops sending it, so the bar never goes back", async () => {
    const backend = new FakeBackend();
    const transfers = new Transfers(backend);
    transfers.start();
    await settle();
    backend.emitTransfer(transfer({ id: 1, layers: [{ id: "a", status: "Downloading", current: 900, total: 1000 }, { id: "b", status: "Downloading", current: 0, total: 3000 }] }));
    expect(transfers.views[0].fraction).toBeCloseTo(0.225);
    backend.emitTransfer(transfer({ id: 1, layers: [{ id: "a", status: "Pull complete", current: null, total: null }, { id: "b", status: "Downloading", current: 1500, total: 3000 }] }));
    expect(transfers.views[0].fraction).toBe(0.625);
  });

  it("cancels through the backend, and keeps why a cancel failed", async () => {
    const backend = new FakeBackend();
    const transfers = new Transfers(backend);
    transfers.start();
    await settle();
    await transfers.cancel(7);
    expect(backend.cancelled).toEqual([7]);
    backend.failures.set("transferCancel", ipcError("invalid_input", { what: "transfer", reason: "8 has ended" }));
    await transfers.cancel(8);
    expect(transfers.cancelErrors.get(8)?.code).toBe("invalid_input");
    expect(transfers.cancelling.size).toBe(0);
  });

  it("reads the list again for a started transfer it has not heard of, and stops listening when stopped", async () => {
    const backend = new FakeBackend();
    const transfers = new Transfers(backend);
    const stop = transfers.start();
    await settle();
    backend.transferList = [transfer({ id: 5 })];
    await transfers.expect([5]);
    expect(transfers.list.map((t) => t.id)).toEqual([5]);
    const reads = backend.calls.filter((call) => call === "transfers").length;
    await transfers.expect([5]);
    expect(backend.calls.filter((call) => call === "transfers")).toHaveLength(reads);
    stop();
    await settle();
    backend.emitTransfer(transfer({ id: 6 }));
    expect(transfers.list.map((t) => t.id)).toEqual([5]);
  });
});
