// DOM and formatting helpers of the console page. Text goes in as textContent, never as HTML.

export function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element as T;
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

/** A button that stays disabled while its action runs, so a second click does not start it twice. */
export function button(
  label: string,
  onClick: (button: HTMLButtonElement) => Promise<void>,
  onError: (err: unknown) => void,
  className = '',
): HTMLButtonElement {
  const b = el('button', { type: 'button', ...(className && { class: className }) }, label);
  b.addEventListener('click', () => {
    b.disabled = true;
    onClick(b).catch(onError).finally(() => (b.disabled = false));
  });
  return b;
}

/**
 * A card or row, made once per camera / session and updated in place, so a button is never
 * replaced under the user's finger.
 */
export interface Item<T> {
  root: HTMLElement;
  update(value: T): void;
}

export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function bytes(n: number): string {
  if (n < 1e3) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

/** A time of day, with the date in front unless it is today. */
export function since(iso: string): string {
  const date = new Date(iso);
  const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return date.toDateString() === new Date().toDateString() ? time : `${date.toLocaleDateString()} ${time}`;
}
