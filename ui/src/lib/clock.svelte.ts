// "Now" for ages and durations: reading `clock.now` in a template re-renders it every few
// seconds, and only while something reads it.
import { createSubscriber } from "svelte/reactivity";

const TICK_MS = 5_000;

class Clock {
  readonly #subscribe = createSubscriber((update) => {
    const timer = setInterval(update, TICK_MS);
    return () => clearInterval(timer);
  });

  get now(): number {
    this.#subscribe();
    return Date.now();
  }
}

export const clock = new Clock();
