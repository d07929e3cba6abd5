/** A JSON pointer as a person writes the field: `/cameras/1/url` → `cameras[1].url`. */
export function fieldName(pointer: string, root = 'config'): string {
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let name = '';
  for (const part of parts) name += /^\d+$/.test(part) ? `[${part}]` : name ? `.${part}` : part;
  return name || root;
}
