import { describe, expect, it } from "vitest";
import { dictionaries, pickLocale, translate, type Message } from "./index";

function placeholders(message: Message): string[] {
  const texts = typeof message === "string" ? [message] : [message.one, message.other];
  return [...new Set(texts.flatMap((text) => [...text.matchAll(/\{(\w+)\}/g)].map((match) => match[1])))].sort();
}

describe("dictionaries", () => {
  const english = dictionaries.en;
  const chinese = dictionaries["zh-CN"];

  it("have exactly the same keys", () => {
    expect(Object.keys(chinese).sort()).toEqual(Object.keys(english).sort());
  });

  it("use the same placeholders for each key", () => {
    for (const key of Object.keys(english) as (keyof typeof english)[]) {
      expect([key, placeholders(chinese[key])]).toEqual([key, placeholders(english[key])]);
    }
  });

  it("use the same message shape (plain or plural) for each key", () => {
    for (const key of Object.keys(english) as (keyof typeof english)[]) {
      expect([key, typeof chinese[key]]).toEqual([key, typeof english[key]]);
    }
  });

  it("have no empty messages", () => {
    for (const dictionary of Object.values(dictionaries)) {
      for (const message of Object.values(dictionary)) {
        const texts = typeof message === "string" ? [message] : [message.one, message.other];
        for (const text of texts) expect(text.trim()).not.toBe("");
      }
    }
  });
});

describe("pickLocale", () => {
  it.each([
    [["zh-CN"], "zh-CN"],
    [["zh"], "zh-CN"],
    [["zh-TW", "en"], "zh-CN"],
    [["zh-Hans-CN"], "zh-CN"],
    [["en-US", "zh-CN"], "en"],
    [["fr-FR", "zh-CN"], "zh-CN"],
    [["fr-FR"], "en"],
    [[], "en"],
  ] as const)("%j → %s", (preferred, expected) => {
    expect(pickLocale(preferred)).toBe(expected);
  });
});

describe("translate", () => {
  it("fills placeholders, formatting numbers for the locale", () => {
    expect(translate("en", "containers.countFiltered", { count: 1234, total: 10000 })).toBe("1,234 of 10,000 containers");
    expect(translate("zh-CN", "containers.countFiltered", { count: 1234, total: 10000 })).toBe("1,234 / 10,000 个容器");
  });

  it("chooses the plural form by count", () => {
    expect(translate("en", "containers.count", { count: 1 })).toBe("1 container");
    expect(translate("en", "containers.count", { count: 2 })).toBe("2 containers");
    expect(translate("en", "containers.count", { count: 0 })).toBe("0 containers");
  });

  it("leaves strings verbatim and unknown placeholders visible", () => {
    expect(translate("en", "fleet.removeTitle", { name: "edge-{2}" })).toBe("Remove edge-{2}?");
    expect(translate("en", "fleet.removeTitle")).toBe("Remove {name}?");
  });
});
