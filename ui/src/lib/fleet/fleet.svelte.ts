// The fleet as the UI sees it: hosts (config + live status), every mirrored container and the
// recent events, kept current by the backend's scoped events. Nothing here re-fetches a list on a
// change: patches are applied to the rows in place, batched per animation frame.
import { toIpcError, type Backend, type ContainerRow, type ContainersPatch, type EventRow, type HostSummary, type IpcError, type ObjectsChanged } from "$lib/ipc";
import type { UnlistenFn } from "@tauri-apps/api/event";
import { mergeEvents, withoutHosts, EVENTS_KEPT } from "$lib/events/timeline";
import { applyPatches, renameHost } from "./patch";
import { afterNextPaint, mark } from "$lib/startup";

/** How many events the first load and a host's first look at the timeline ask for. */
export const EVENTS_LOADED = 500;

export interface FleetOptions {
  /** Runs `flush` before the next paint; tests pass their own. Default: requestAnimationFrame. */
  scheduleFrame?: (flush: () => void) => void;
  /** Resolves once the hosts just set have been painted. Default: after the next frame's paint. */
  afterPaint?: () => Promise<void>;
  eventsKept?: number;
}

function nextFrame(flush: () => void): void {
  if (typeof requestAnimationFrame === "function") requestAnimationFrame(() => flush());
  else setTimeout(flush, 16);
}

export class Fleet {
  hosts = $state.raw<readonly HostSummary[]>([]);
  containers = $state.raw<readonly ContainerRow[]>([]);
  events = $state.raw<readonly EventRow[]>([]);
  /** fleet() has settled (with data or an error): the overview can paint. */
  hostsReady = $state(false);
  /** fleet() and containers() have settled (with data or an error). */
  ready = $state(false);
  /** The first events() has settled. */
  eventsReady = $state(false);
  /** Why the hosts or containers could not be read. */
  error = $state.raw<IpcError | null>(null);
  eventsError = $state.raw<IpcError | null>(null);

  readonly hostsById: ReadonlyMap<number, HostSummary> = $derived(new Map(this.hosts.map((host) => [host.id, host])));
  readonly hostsByName: ReadonlyMap<string, HostSummary> = $derived(new Map(this.hosts.map((host) => [host.name, host])));

  readonly #backend: Backend;
  readonly #scheduleFrame: (flush: () => void) => void;
  readonly #afterPaint: () => Promise<void>;
  readonly #eventsKept: number;
  /** Per host id: its three listeners, once registered. */
  readonly #listeners = new Map<number, Promise<UnlistenFn[]>>();
  #fleetListener: Promise<UnlistenFn> | null = null;
  #hostsLoaded = false;
  /** The first containers() has been asked for: hosts that join later need their own catch-up. */
  #containersRequested = false;
  #containersLoaded = false;
  #eventsLoaded = false;
  /** A fleet list heard before fleet() answered: applied after it, being at least as new. */
  #earlyFleet: HostSummary[] | null = null;
  #patchQueue: ContainersPatch[] = [];
  /** Hosts that joined after the first read, by id: their patches, held until their catch-up read. */
  readonly #catchingUp = new Map<number, ContainersPatch[]>();
  #eventQueue: EventRow[] = [];
  #removedHosts = new Set<number>();
  #frameScheduled = false;
  #stopped = false;
  readonly #eventsLoadedFor = new Set<string>();
  readonly #patchListeners = new Set<(patch: ContainersPatch) => void>();
  readonly #objectListeners = new Set<(change: ObjectsChanged) => void>();
  /** Per host id: its `objects` listener, while any view hears objects. */
  readonly #objectUnlisten = new Map<number, Promise<UnlistenFn>>();

  constructor(backend: Backend, options: FleetOptions = {}) {
    this.#backend = backend;
    this.#scheduleFrame = options.scheduleFrame ?? nextFrame;
    this.#afterPaint = options.afterPaint ?? afterNextPaint;
    this.#eventsKept = options.eventsKept ?? EVENTS_KEPT;
  }

  /**
   * Listens first, then reads: fleet → listeners for each host → containers() and events().
   * Patches heard before a read resolves are queued and applied on top of it, in order, so the
   * rows end at the newest state whatever the interleaving.
   */
  async start(): Promise<void> {
    try {
      this.#fleetListener = this.#backend.onFleet((hosts) => this.#onFleet(hosts));
      await this.#fleetListener;
      const hosts = await this.#backend.fleet();
      if (this.#stopped) return;
      this.#hostsLoaded = true;
      this.hosts = this.#earlyFleet ?? hosts;
      this.#earlyFleet = null;
      // The overview needs nothing more: it paints first. Registering three listeners per host
      // floods the page's IPC for a moment, so that waits until the hosts are on screen.
      this.hostsReady = true;
      mark("hosts");
      await this.#afterPaint();
      if (this.#stopped) return;
      this.#setHosts(this.hosts);
      // Every host's listeners, including any a fleet event registered meanwhile, before the reads.
      await Promise.all(this.#listeners.values());
      mark("listening");
    } catch (rejection) {
      this.error = toIpcError(rejection);
      this.hostsReady = true;
      this.ready = true;
      this.eventsReady = true;
      return;
    }
    await Promise.all([this.#loadContainers(), this.#loadEvents()]);
  }

  /** Stops listening; the state stays as it is. */
  stop(): void {
    this.#stopped = true;
    for (const hostId of [...this.#listeners.keys()]) this.#unlisten(hostId);
    for (const hostId of [...this.#objectUnlisten.keys()]) this.#unlistenObjects(hostId);
    void this.#fleetListener?.then((unlisten) => unlisten(), () => undefined);
    this.#fleetListener = null;
  }

  /** Applies everything queued now (normally done once per frame). */
  flush(): void {
    this.#frameScheduled = false;
    if (this.#containersLoaded && (this.#patchQueue.length > 0 || this.#removedHosts.size > 0)) {
      const patches = this.#patchQueue;
      this.#patchQueue = [];
      this.containers = applyPatches(this.containers, patches);
    }
    if (this.#eventsLoaded && (this.#eventQueue.length > 0 || this.#removedHosts.size > 0)) {
      const incoming = this.#eventQueue;
      this.#eventQueue = [];
      this.events = withoutHosts(mergeEvents(this.events, incoming, this.#eventsKept), this.#removedHosts);
    }
    if (this.#containersLoaded && this.#eventsLoaded) this.#removedHosts.clear();
  }

  /** Deeper history for one host (once per host): its newest events merged into the timeline. */
  async loadHostEvents(host: string): Promise<void> {
    if (this.#eventsLoadedFor.has(host)) return;
    this.#eventsLoadedFor.add(host);
    try {
      const events = await this.#backend.events(host, EVENTS_LOADED);
      this.#eventQueue.push(...events);
      this.#schedule();
    } catch (rejection) {
      this.#eventsLoadedFor.delete(host);
      this.eventsError = toIpcError(rejection);
    }
  }

  /**
   * Hears each container patch of a followed host as it arrives (before it is applied), for a
   * view that re-reads something a change on a host touches (the activity log). Returns the
   * unsubscribe.
   */
  onPatch(listener: (patch: ContainersPatch) => void): () => void {
    this.#patchListeners.add(listener);
    return () => void this.#patchListeners.delete(listener);
  }

  /**
   * Hears `host://{id}/objects` of every host (its images, networks or volumes may have changed)
   * while subscribed. Listening starts with the first subscriber and ends with the last, so
   * start-up pays nothing for views that are not open. A host that joins or is renamed meanwhile
   * is reported as changed once it is heard (its first snapshot may have come before).
   * `listening` resolves once every host known now is heard: read after it.
   */
  onObjects(listener: (change: ObjectsChanged) => void): { listening: Promise<void>; stop: () => void } {
    this.#objectListeners.add(listener);
    const listening = Promise.all(this.hosts.map((host) => this.#listenObjects(host.id, false))).then(() => undefined);
    const stop = (): void => {
      if (!this.#objectListeners.delete(listener) || this.#objectListeners.size > 0) return;
      for (const hostId of [...this.#objectUnlisten.keys()]) this.#unlistenObjects(hostId);
    };
    return { listening, stop };
  }

  /** A host the backend just added or edited: shown at once, ahead of the fleet event. */
  acceptHost(summary: HostSummary): void {
    const known = this.hosts.some((host) => host.id === summary.id);
    const next = known ? this.hosts.map((host) => (host.id === summary.id ? summary : host)) : [...this.hosts, summary];
    this.#keep(this.#setHosts(next));
  }

  /** A host the backend just removed: gone at once, with its rows and events. */
  forgetHost(hostId: number): void {
    this.#keep(this.#setHosts(this.hosts.filter((host) => host.id !== hostId)));
  }

  async #loadContainers(): Promise<void> {
    this.#containersRequested = true;
    try {
      const rows = await this.#backend.containers();
      const patches = this.#patchQueue;
      this.#patchQueue = [];
      mark("containers answered");
      this.containers = applyPatches(rows, patches);
      this.#containersLoaded = true;
      mark("containers applied");
    } catch (rejection) {
      this.error = toIpcError(rejection);
    } finally {
      this.ready = true;
    }
  }

  async #loadEvents(): Promise<void> {
    try {
      const events = await this.#backend.events(null, EVENTS_LOADED);
      const incoming = this.#eventQueue;
      this.#eventQueue = [];
      const loaded = mergeEvents(mergeEvents([], events, this.#eventsKept), incoming, this.#eventsKept);
      this.events = withoutHosts(loaded, this.#removedHosts);
      this.#eventsLoaded = true;
    } catch (rejection) {
      this.eventsError = toIpcError(rejection);
    } finally {
      this.eventsReady = true;
    }
  }

  /** Waits for listeners registered outside start(); a failure to listen is shown like a read's. */
  #keep(listening: Promise<void>[]): void {
    Promise.all(listening).catch((rejection: unknown) => {
      this.error = toIpcError(rejection);
    });
  }

  #schedule(): void {
    if (this.#frameScheduled || this.#stopped) return;
    this.#frameScheduled = true;
    this.#scheduleFrame(() => this.flush());
  }

  #onFleet(hosts: HostSummary[]): void {
    if (!this.#hostsLoaded) {
      this.#earlyFleet = hosts;
      return;
    }
    this.#keep(this.#setHosts(hosts));
  }

  /** Takes a new host list: listens to new hosts, drops the rows of removed ones, renames rows. */
  #setHosts(next: readonly HostSummary[]): Promise<void>[] {
    const previous = new Map(this.hosts.map((host) => [host.id, host]));
    const nextIds = new Set(next.map((host) => host.id));
    const listening: Promise<void>[] = [];
    const hearObjects = this.#objectListeners.size > 0;
    for (const host of next) {
      if (!this.#listeners.has(host.id)) listening.push(this.#listen(host.id));
      if (hearObjects && !this.#objectUnlisten.has(host.id)) listening.push(this.#listenObjects(host.id, true));
      const before = previous.get(host.id);
      if (before && before.name !== host.name) {
        this.containers = renameHost(this.containers, host.id, host.name);
        if (hearObjects) this.#objectsChanged({ host_id: host.id, host: host.name });
      }
    }
    for (const hostId of [...this.#objectUnlisten.keys()]) {
      if (!nextIds.has(hostId)) this.#unlistenObjects(hostId);
    }
    for (const hostId of [...this.#listeners.keys()]) {
      if (nextIds.has(hostId)) continue;
      this.#unlisten(hostId);
      this.#patchQueue.push({ host_id: hostId, replace: true, upsert: [], remove: [] });
      this.#removedHosts.add(hostId);
      this.#schedule();
    }
    this.hosts = next;
    return listening;
  }

  #listen(hostId: number): Promise<void> {
    const backend = this.#backend;
    // A host that joins later may have sent its first snapshot before we listened: read it once.
    const catchUp = this.#containersRequested;
    if (catchUp) this.#catchingUp.set(hostId, []);
    const listeners = Promise.all([
      backend.onHostContainers(hostId, (patch) => this.#onPatch(hostId, patch)),
      backend.onHostStatus(hostId, (summary) => this.#onStatus(hostId, summary)),
      backend.onHostEvents(hostId, (events) => this.#onEvents(hostId, events)),
    ]);
    this.#listeners.set(hostId, listeners);
    return listeners.then(() => {
      if (catchUp) void this.#catchUp(hostId);
    });
  }

  /**
   * The rows of a host that joined after the first read, read once its listeners are in place
   * (there is no per-host read, so this takes the host's rows from containers()); patches heard
   * meanwhile are held and applied after them, in order.
   */
  async #catchUp(hostId: number): Promise<void> {
    let rows: ContainerRow[] = [];
    try {
      rows = (await this.#backend.containers()).filter((row) => row.host_id === hostId);
    } catch (rejection) {
      this.error = toIpcError(rejection);
    }
    const held = this.#catchingUp.get(hostId) ?? [];
    this.#catchingUp.delete(hostId);
    if (!this.#listeners.has(hostId)) return;
    this.#patchQueue.push({ host_id: hostId, replace: true, upsert: rows, remove: [] }, ...held);
    this.#schedule();
    const host = this.hostsById.get(hostId);
    if (host) void this.loadHostEvents(host.name);
  }

  /** Listens to a host's objects (once); `joined`: report it changed once heard. */
  #listenObjects(hostId: number, joined: boolean): Promise<void> {
    let listener = this.#objectUnlisten.get(hostId);
    if (!listener) {
      listener = this.#backend.onHostObjects(hostId, (change) => {
        if (this.#objectUnlisten.has(hostId)) this.#objectsChanged(change);
      });
      this.#objectUnlisten.set(hostId, listener);
      if (joined) {
        void listener.then(() => {
          const host = this.hostsById.get(hostId);
          if (host && this.#objectUnlisten.get(hostId) === listener) this.#objectsChanged({ host_id: hostId, host: host.name });
        }, () => undefined);
      }
    }
    return listener.then(() => undefined);
  }

  #unlistenObjects(hostId: number): void {
    const listener = this.#objectUnlisten.get(hostId);
    this.#objectUnlisten.delete(hostId);
    void listener?.then(
      (unlisten) => unlisten(),
      () => undefined,
    );
  }

  #objectsChanged(change: ObjectsChanged): void {
    for (const listener of this.#objectListeners) listener(change);
  }

  #unlisten(hostId: number): void {
    const listeners = this.#listeners.get(hostId);
    this.#listeners.delete(hostId);
    void listeners?.then(
      (unlistens) => unlistens.forEach((unlisten) => unlisten()),
      () => undefined,
    );
  }

  #onPatch(hostId: number, patch: ContainersPatch): void {
    if (!this.#listeners.has(hostId)) return;
    for (const listener of this.#patchListeners) listener(patch);
    const held = this.#catchingUp.get(hostId);
    if (held) {
      held.push(patch);
      return;
    }
    this.#patchQueue.push(patch);
    if (this.#containersLoaded) this.#schedule();
  }

  #onStatus(hostId: number, summary: HostSummary): void {
    if (!this.#listeners.has(hostId)) return;
    this.hosts = this.hosts.map((host) => (host.id === hostId ? summary : host));
  }

  #onEvents(hostId: number, events: EventRow[]): void {
    if (!this.#listeners.has(hostId)) return;
    this.#eventQueue.push(...events);
    if (this.#eventsLoaded) this.#schedule();
  }
}
