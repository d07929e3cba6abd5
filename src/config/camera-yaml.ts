import { isDeepStrictEqual } from 'node:util';
import { isMap, isScalar, isSeq, parse as parseYaml, parseDocument, stringify, type Pair, type YAMLMap, type YAMLSeq } from 'yaml';
import { CodedError } from '../util/coded-error.ts';

/**
 * Edits the `cameras:` list of a configuration file's text and leaves every other byte alone:
 * the user's comments, spacing before them, quoting and order. The yaml package's Document can
 * edit, but it re-prints the whole file (it normalises the spaces before a comment and drops the
 * comment of a value it replaces), so the edit is spliced into the text at the positions the
 * parsed document gives, then checked by parsing the result. Pure.
 */

/** A camera as the config file holds it (the same keys as `cameras:` entries). */
export type CameraEntry = { id: string } & Record<string, unknown>;

export type ConfigEdit =
  /** Adds the camera, or changes the one with its id (or with `replaces`, when the id changes). A key set to undefined is removed. */
  | { kind: 'upsert-camera'; camera: CameraEntry; replaces?: string }
  | { kind: 'remove-camera'; id: string };

export class CameraYamlError extends CodedError<'NOT_FOUND' | 'UNREADABLE'> {}

export function editConfigText(text: string, edit: ConfigEdit): string {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new CameraYamlError('UNREADABLE', `the configuration file is not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  if (doc.contents !== null && !isMap(doc.contents)) throw new CameraYamlError('UNREADABLE', 'the configuration file must be a YAML mapping (key: value)');
  const cameras = doc.get('cameras', true);
  if (cameras !== undefined && cameras !== null && !isSeq(cameras)) throw new CameraYamlError('UNREADABLE', 'cameras: must be a list');
  const seq = (cameras ?? undefined) as YAMLSeq | undefined;
  const before = (parseYaml(text) as { cameras?: CameraEntry[] } | null)?.cameras ?? [];
  const expected = applied(before, edit);
  const spliced = splice(text, seq, edit);
  // The splice must say exactly what the edit means; where it cannot (a flow-style list, odd
  // indentation), the document is re-printed instead: correct, only less faithful to the spacing.
  if (spliced !== undefined && isDeepStrictEqual(camerasOf(spliced), expected) && sameOutside(text, spliced)) return spliced;
  return reprinted(doc, edit);
}

/** The cameras list after the edit, as plain data. */
function applied(cameras: CameraEntry[], edit: ConfigEdit): CameraEntry[] {
  if (edit.kind === 'remove-camera') {
    if (!cameras.some((c) => c.id === edit.id)) throw new CameraYamlError('NOT_FOUND', `no camera "${edit.id}" in the configuration file`);
    return cameras.filter((c) => c.id !== edit.id);
  }
  const key = edit.replaces ?? edit.camera.id;
  const index = cameras.findIndex((c) => c.id === key);
  if (index < 0 && edit.replaces !== undefined) throw new CameraYamlError('NOT_FOUND', `no camera "${edit.replaces}" in the configuration file`);
  if (index < 0) return [...cameras, withoutUndefined(edit.camera)];
  const next = [...cameras];
  next[index] = withoutUndefined({ ...cameras[index], ...edit.camera });
  return next;
}

function withoutUndefined(camera: Record<string, unknown>): CameraEntry {
  return Object.fromEntries(Object.entries(camera).filter(([, value]) => value !== undefined)) as CameraEntry;
}

function camerasOf(text: string): unknown {
  return (parseYaml(text) as { cameras?: unknown } | null)?.cameras ?? [];
}

/** Everything but `cameras:` parses to the same data. */
function sameOutside(before: string, after: string): boolean {
  const strip = (text: string) => {
    const { cameras: _cameras, ...rest } = (parseYaml(text) as Record<string, unknown> | null) ?? {};
    return rest;
  };
  return isDeepStrictEqual(strip(before), strip(after));
}

function splice(text: string, seq: YAMLSeq | undefined, edit: ConfigEdit): string | undefined {
  if (!seq) {
    if (edit.kind === 'remove-camera') return undefined;
    const block = itemText(edit.camera, '  ');
    return `${text}${text.endsWith('\n') || text === '' ? '' : '\n'}cameras:\n${block}`;
  }
  if (seq.flow) return undefined;
  const items = seq.items as YAMLMap[];
  const key = edit.kind === 'remove-camera' ? edit.id : edit.replaces ?? edit.camera.id;
  const index = items.findIndex((item) => isMap(item) && item.get('id') === key);
  if (edit.kind === 'remove-camera') return index < 0 ? undefined : removeItem(text, items, index);
  if (index < 0) {
    if (items.length === 0 || !items[0]!.range) return undefined;
    const indent = ' '.repeat(column(text, items[0]!.range[0]) - 2);
    const at = lineEnd(text, items.at(-1)!.range![1]);
    return `${text.slice(0, at)}${text[at - 1] === '\n' ? '' : '\n'}${itemText(edit.camera, indent)}${text.slice(at)}`;
  }
  return updateItem(text, items[index]!, edit.camera);
}

/** `- key: value` lines of a new camera at `indent` (the column of the list's dashes). */
function itemText(camera: CameraEntry, indent: string): string {
  return stringify([withoutUndefined(camera)]).split('\n').filter((line) => line !== '').map((line) => `${indent}${line}\n`).join('');
}

/** The camera's pairs changed in place, working from the end of the text so earlier offsets stay right. */
function updateItem(text: string, item: YAMLMap, camera: CameraEntry): string | undefined {
  const pairs = item.items as Pair[];
  const edits: Array<{ from: number; to: number; insert: string }> = [];
  const firstKey = pairs[0]?.key;
  if (!isScalar(firstKey) || !firstKey.range) return undefined;
  const keyIndent = ' '.repeat(column(text, firstKey.range[0]));
  const appendAt = lineEnd(text, item.range![1]);
  for (const [name, value] of Object.entries(camera)) {
    const pair = pairs.find((p) => isScalar(p.key) && p.key.value === name);
    if (!pair) {
      if (value !== undefined) edits.push({ from: appendAt, to: appendAt, insert: `${text[appendAt - 1] === '\n' ? '' : '\n'}${keyIndent}${name}: ${inline(value)}\n` });
      continue;
    }
    const keyNode = pair.key as { range?: [number, number, number] };
    const valueNode = pair.value as { range?: [number, number, number] } | null;
    if (value === undefined) {
      const from = lineStart(text, keyNode.range![0]);
      edits.push({ from, to: lineEnd(text, valueNode?.range?.[1] ?? keyNode.range![1]), insert: '' });
      continue;
    }
    if (valueNode && isDeepStrictEqual((parseYaml(text.slice(valueNode.range![0], valueNode.range![1])) as unknown), value)) continue;
    if (!valueNode?.range || !isScalar(valueNode)) return undefined; // a nested block: re-printed instead
    edits.push({ from: valueNode.range[0], to: valueNode.range[1], insert: inline(value) });
  }
  edits.sort((a, b) => b.from - a.from);
  let next = text;
  for (const { from, to, insert } of edits) next = `${next.slice(0, from)}${insert}${next.slice(to)}`;
  return next;
}

/** The item's lines, without the comment lines just above the next item (they belong to it). */
function removeItem(text: string, items: YAMLMap[], index: number): string | undefined {
  const item = items[index]!;
  if (!item.range) return undefined;
  const from = lineStart(text, item.range[0]);
  const next = items[index + 1];
  // Blank and comment lines between the two items stay with the next one.
  const to = next?.range ? Math.min(lineEnd(text, item.range[1]), lineStart(text, next.range[0])) : lineEnd(text, item.range[1]);
  return `${text.slice(0, from)}${text.slice(to)}`;
}

/** A value on one line: a scalar as YAML writes it, a mapping or list in flow style. */
function inline(value: unknown): string {
  return stringify(value, { collectionStyle: 'flow', lineWidth: 0 }).trimEnd();
}

function column(text: string, offset: number): number {
  return offset - lineStart(text, offset);
}

function lineStart(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1;
}

/** The offset just past the end of the line holding `offset` (past its newline). */
function lineEnd(text: string, offset: number): number {
  if (offset > 0 && text[offset - 1] === '\n') return offset;
  const newline = text.indexOf('\n', offset);
  return newline < 0 ? text.length : newline + 1;
}

/** The fallback: the document edited and printed whole (comments kept, spacing normalised). */
function reprinted(doc: ReturnType<typeof parseDocument>, edit: ConfigEdit): string {
  const cameras = doc.get('cameras', true) as YAMLSeq | undefined;
  const items = (cameras?.items ?? []) as YAMLMap[];
  const indexOf = (id: string) => items.findIndex((item) => isMap(item) && item.get('id') === id);
  if (edit.kind === 'remove-camera') {
    cameras!.delete(indexOf(edit.id));
    return doc.toString();
  }
  const index = indexOf(edit.replaces ?? edit.camera.id);
  if (index < 0) {
    if (cameras) cameras.add(doc.createNode(withoutUndefined(edit.camera)));
    else doc.set('cameras', doc.createNode([withoutUndefined(edit.camera)]));
    return doc.toString();
  }
  for (const [key, value] of Object.entries(edit.camera)) {
    if (value === undefined) items[index]!.delete(key);
    else items[index]!.set(key, doc.createNode(value));
  }
  return doc.toString();
}
