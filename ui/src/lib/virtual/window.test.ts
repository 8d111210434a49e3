import { describe, expect, it } from "vitest";
import { pageRows, revealScrollTop, rowWindow, type RowWindow, type WindowInput } from "./window";

const base: WindowInput = { scrollTop: 0, viewportHeight: 300, rowHeight: 30, count: 10_000, overscan: 5 };

describe("rowWindow", () => {
  const cases: [string, Partial<WindowInput>, RowWindow][] = [
    ["top of a long list", {}, { start: 0, end: 15, offset: 0, total: 300_000 }],
    ["scrolled by whole rows", { scrollTop: 3_000 }, { start: 95, end: 115, offset: 2_850, total: 300_000 }],
    ["scrolled mid-row", { scrollTop: 3_015 }, { start: 95, end: 116, offset: 2_850, total: 300_000 }],
    ["bottom of the list", { scrollTop: 299_700 }, { start: 9_985, end: 10_000, offset: 299_550, total: 300_000 }],
    ["scrolled past the end (list shrank)", { scrollTop: 1e9 }, { start: 9_985, end: 10_000, offset: 299_550, total: 300_000 }],
    ["negative scroll (overscroll bounce)", { scrollTop: -40 }, { start: 0, end: 15, offset: 0, total: 300_000 }],
    ["a list shorter than the viewport", { count: 4 }, { start: 0, end: 4, offset: 0, total: 120 }],
    ["an empty list", { count: 0 }, { start: 0, end: 0, offset: 0, total: 0 }],
    ["no overscan", { overscan: 0, scrollTop: 600 }, { start: 20, end: 30, offset: 600, total: 300_000 }],
    ["a zero-height viewport still renders a row", { viewportHeight: 0, overscan: 0 }, { start: 0, end: 1, offset: 0, total: 300_000 }],
  ];
  it.each(cases)("%s", (_name, input, expected) => {
    expect(rowWindow({ ...base, ...input })).toEqual(expected);
  });

  it("renders a small, constant number of rows wherever the list is scrolled", () => {
    for (const scrollTop of [0, 12_345, 150_000, 299_700]) {
      const { start, end } = rowWindow({ ...base, scrollTop });
      expect(end - start).toBeLessThanOrEqual(300 / 30 + 2 * 5 + 1);
    }
  });
});

describe("revealScrollTop", () => {
  const cases: [string, number, number, number][] = [
    // [name, scrollTop, index, expected]
    ["a visible row needs no scroll", 300, 12, 300],
    ["a row above scrolls up to its top", 300, 5, 150],
    ["a row below scrolls down so its bottom is at the bottom", 300, 25, 480],
    ["the row just under the view", 0, 10, 30],
    ["the first row", 900, 0, 0],
    ["the last row of a visible page", 0, 9, 0],
  ];
  it.each(cases)("%s", (_name, scrollTop, index, expected) => {
    expect(revealScrollTop(scrollTop, 300, 30, index)).toBe(expected);
  });
});

describe("pageRows", () => {
  it.each([
    [300, 30, 9],
    [29, 30, 1],
    [0, 30, 1],
    [600, 28, 20],
  ])("viewport %i, rows of %i → %i", (viewport, rowHeight, expected) => {
    expect(pageRows(viewport, rowHeight)).toBe(expected);
  });
});
