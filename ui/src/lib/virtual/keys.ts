/** What a keyboard-driven list offers its keys: the table of containers, the activity log. */
export interface KeyedList {
  /** Rows in the list, and rows in one page of its window. */
  readonly count: number;
  readonly pageSize: number;
  /** Whether a row is selected, and whether one is open in a detail panel. */
  readonly hasSelection: boolean;
  readonly isOpen: boolean;
  move(by: number): void;
  select(index: number): void;
  open(): void;
  close(): void;
}

/**
 * Arrows and PgUp/PgDn move the selection, Home/End jump to the ends, Enter opens the selected
 * row, Esc closes the open one. True when the key was handled (the caller then prevents the
 * browser's own handling).
 */
export function handleListKey(key: string, list: KeyedList): boolean {
  switch (key) {
    case "ArrowDown":
      list.move(1);
      return true;
    case "ArrowUp":
      list.move(-1);
      return true;
    case "PageDown":
      list.move(list.pageSize);
      return true;
    case "PageUp":
      list.move(-list.pageSize);
      return true;
    case "Home":
      list.select(0);
      return true;
    case "End":
      list.select(list.count - 1);
      return true;
    case "Enter":
      if (!list.hasSelection) return false;
      list.open();
      return true;
    case "Escape":
      if (!list.isOpen) return false;
      list.close();
      return true;
    default:
      return false;
  }
}
