/**
 * Resolve kernel modules to .ko paths in load order from depmod's modules.dep, the way
 * modprobe would: dependencies first, each module once. Module names compare with '-'
 * and '_' equal. A module listed in modules.builtin needs nothing; an unknown one is an error.
 */
export interface ModuleIndex {
  /** Module name (underscored) → { path, deps (paths) } */
  byName: Map<string, { path: string; deps: string[] }>;
  builtin: Set<string>;
}

export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

export function parseModuleIndex(modulesDep: string, modulesBuiltin: string): ModuleIndex {
  const byName = new Map<string, { path: string; deps: string[] }>();
  for (const line of modulesDep.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const path = line.slice(0, colon).trim();
    const deps = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    byName.set(moduleName(path), { path, deps });
  }
  const builtin = new Set(modulesBuiltin.split('\n').filter(Boolean).map(moduleName));
  return { byName, builtin };
}

export function resolveModules(index: ModuleIndex, wanted: readonly string[]): string[] {
  const order: string[] = [];
  const done = new Set<string>();
  const pathToName = new Map([...index.byName].map(([name, entry]) => [entry.path, name]));
  const visit = (name: string, chain: string[]) => {
    const entry = index.byName.get(name);
    if (!entry) {
      if (index.builtin.has(name)) return;
      throw new Error(
        `kernel module ${name} is neither in modules.dep nor built in${chain.length ? ` (needed by ${chain.join(' <- ')})` : ''}`,
      );
    }
    if (done.has(entry.path)) return;
    if (chain.includes(name))
      throw new Error(`kernel module dependency cycle: ${[...chain, name].join(' -> ')}`);
    for (const dep of entry.deps) visit(pathToName.get(dep) ?? moduleName(dep), [...chain, name]);
    done.add(entry.path);
    order.push(entry.path);
  };
  for (const name of wanted) visit(name.replace(/-/g, '_'), []);
  return order;
}
