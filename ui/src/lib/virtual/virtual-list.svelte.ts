// A virtualised list's live state: scroll position and size in, the window of rows to render
// out. The component binds `clientHeight`, forwards scroll events and gives it the element.
import { pageRows, revealScrollTop, rowWindow, type RowWindow } from "./window";

export interface VirtualListOptions {
  rowHeight: number;
  /** Height of a sticky header inside the scroll element, in px. */
  headerHeight?: number;
  overscan?: number;
  /** Assumed viewport height until one is measured (or where layout measures nothing). */
  fallbackHeight?: number;
  count: () => number;
}

export class VirtualList {
  /** The scroll element's scrollTop, as last seen. */
  scrollTop = $state(0);
  /** The scroll element's clientHeight (bound by the component). */
  clientHeight = $state(0);

  readonly rowHeight: number;
  readonly headerHeight: number;
  readonly overscan: number;
  readonly #fallbackHeight: number;
  readonly #count: () => number;
  #element: HTMLElement | null = null;

  /** Height in which rows are visible. */
  readonly viewportHeight: number;
  readonly window: RowWindow;

  constructor(options: VirtualListOptions) {
    this.rowHeight = options.rowHeight;
    this.headerHeight = options.headerHeight ?? 0;
    this.overscan = options.overscan ?? 8;
    this.#fallbackHeight = options.fallbackHeight ?? 600;
    this.#count = options.count;
    this.viewportHeight = $derived(this.clientHeight > 0 ? Math.max(0, this.clientHeight - this.headerHeight) : this.#fallbackHeight);
    this.window = $derived(
      rowWindow({
        scrollTop: this.scrollTop,
        viewportHeight: this.viewportHeight,
        rowHeight: this.rowHeight,
        count: this.#count(),
        overscan: this.overscan,
      }),
    );
  }

  get pageSize(): number {
    return pageRows(this.viewportHeight, this.rowHeight);
  }

  /** The scroll element; set by an attachment, cleared when it goes. */
  attach = (element: HTMLElement): (() => void) => {
    this.#element = element;
    this.scrollTop = element.scrollTop;
    return () => {
      if (this.#element === element) this.#element = null;
    };
  };

  onscroll = (event: Event): void => {
    this.scrollTop = (event.currentTarget as HTMLElement).scrollTop;
  };

  /** Scrolls as little as needed to show row `index` whole. */
  reveal(index: number): void {
    if (index < 0) return;
    const top = revealScrollTop(this.scrollTop, this.viewportHeight, this.rowHeight, index);
    if (top === this.scrollTop) return;
    this.scrollTop = top;
    if (this.#element) this.#element.scrollTop = top;
  }

  /** Gives the scroll element keyboard focus. */
  focus(): void {
    this.#element?.focus();
  }

  scrollToTop(): void {
    this.scrollTop = 0;
    if (this.#element) this.#element.scrollTop = 0;
  }
}
