import type { AttributeProto, NodeProto } from './schema.js';

/** A node's attribute of that name. */
export function attribute(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}

/** An INT attribute, or `fallback` when absent. */
export function attrInt(node: NodeProto, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a === undefined ? fallback : a.i;
}

/** A FLOAT attribute, or `fallback` when absent. */
export function attrFloat(node: NodeProto, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a === undefined ? fallback : a.f;
}

/** An INTS attribute, or undefined when absent. */
export function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = attribute(node, name);
  return a === undefined ? undefined : a.ints.map(Number);
}

/** A STRING attribute (UTF-8), or `fallback` when absent. */
export function attrString(node: NodeProto, name: string, fallback: string): string {
  const a = attribute(node, name);
  return a?.s === undefined ? fallback : new TextDecoder().decode(a.s);
}
