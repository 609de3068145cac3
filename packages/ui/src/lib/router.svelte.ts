/** Hash routes: #/projects/3/tickets, #/tickets/12 … so the server serves one page for every screen. */
export const router = $state({ path: currentPath() });

function currentPath(): string {
  return location.hash.replace(/^#/, '') || '/';
}

window.addEventListener('hashchange', () => {
  router.path = currentPath();
});

/** Goes to `path`; the route changes at once (the hashchange event comes later, and changes nothing then). */
export function navigate(path: string): void {
  location.hash = path;
  router.path = currentPath();
}

/** Matches `/tickets/:id` style patterns; answers the parameters or null. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const names: string[] = [];
  const regex = new RegExp(
    `^${pattern.replace(/:(\w+)/g, (_m, name) => {
      names.push(name);
      return '([^/?]+)';
    })}(?:\\?.*)?$`,
  );
  const found = regex.exec(path);
  if (!found) return null;
  return Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(found[i + 1] ?? '')]));
}
