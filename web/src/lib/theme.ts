export type ThemeChoice = 'system' | 'light' | 'dark';

const KEY = 'fleet.theme';

export function readTheme(storage: Pick<Storage, 'getItem'> | undefined): ThemeChoice {
  const v = storage?.getItem(KEY);
  return v === 'light' || v === 'dark' ? v : 'system';
}

/** `system` leaves the choice to prefers-color-scheme (styles.css); the others pin it. */
export function applyTheme(
  choice: ThemeChoice,
  root: HTMLElement,
  storage: Pick<Storage, 'setItem' | 'removeItem'> | undefined,
): void {
  if (choice === 'system') {
    delete root.dataset.theme;
    storage?.removeItem(KEY);
  } else {
    root.dataset.theme = choice;
    storage?.setItem(KEY, choice);
  }
}

export function nextTheme(choice: ThemeChoice): ThemeChoice {
  return choice === 'system' ? 'light' : choice === 'light' ? 'dark' : 'system';
}
