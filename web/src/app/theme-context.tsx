import { createContext, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { applyTheme, nextTheme, readTheme, type ThemeChoice } from '../lib/theme.js';

interface ThemeValue {
  choice: ThemeChoice;
  /** What is on screen: the choice, or the system's preference when the choice is `system`. */
  resolved: 'light' | 'dark';
  cycle: () => void;
}

const ThemeContext = createContext<ThemeValue>({ choice: 'system', resolved: 'light', cycle: () => {} });

function systemDark(): boolean {
  return (
    typeof window !== 'undefined' &&
    typeof window.matchMedia === 'function' &&
    window.matchMedia('(prefers-color-scheme: dark)').matches
  );
}

function storage(): Storage | undefined {
  try {
    return typeof localStorage === 'undefined' ? undefined : localStorage;
  } catch {
    return undefined; // storage disabled: the choice lasts for this page only
  }
}

export function ThemeProvider({ children }: { children: ReactNode }) {
  const [choice, setChoice] = useState<ThemeChoice>(() => readTheme(storage()));
  const [dark, setDark] = useState(systemDark);

  useEffect(() => {
    if (typeof window.matchMedia !== 'function') return;
    const mq = window.matchMedia('(prefers-color-scheme: dark)');
    const on = () => setDark(mq.matches);
    mq.addEventListener('change', on);
    return () => mq.removeEventListener('change', on);
  }, []);

  useEffect(() => applyTheme(choice, document.documentElement, storage()), [choice]);

  const value = useMemo<ThemeValue>(
    () => ({
      choice,
      resolved: choice === 'system' ? (dark ? 'dark' : 'light') : choice,
      cycle: () => setChoice(nextTheme),
    }),
    [choice, dark],
  );
  return <ThemeContext value={value}>{children}</ThemeContext>;
}

export function useTheme(): ThemeValue {
  return useContext(ThemeContext);
}
