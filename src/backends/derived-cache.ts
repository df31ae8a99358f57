/**
 * Weights rearranged for the wasm backend's gradient kernels, kept per weight buffer while it lives
 * (see {@link derivedFilter}).
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Info, KernelScope } from './kernel-scope.js';

/** What the backend offers to tell whether a buffer is still alive. */
interface StorageBackend {
  readonly dataIdMap: { has(dataId: tf.DataId): boolean };
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

/** At most this many derived weights are kept per backend and kind (a WRN-34-10 has 35 convolutions). */
const CACHE_LIMIT = 512;

/** Derived weights, per backend, kind and source buffer. */
const derivedFilters = new WeakMap<object, Map<string, Map<tf.DataId, Info>>>();

/**
 * A tensor derived from a weight (a convolution's flipped, transposed filter; a dense layer's transposed kernel),
 * computed once per weight buffer and kept while that buffer lives: an attack's steps reuse the same weights, and the
 * wasm backend's convolution and matrix product reuse the XNNPACK operator (with its packed weights) made for a buffer
 * they have seen, instead of rearranging and packing the weight again on every call. Entries whose weight has been
 * freed (a training step replaced it) are freed on the next call; at most {@link CACHE_LIMIT} are kept per kind, the
 * oldest freed first.
 */
export function derivedFilter(s: KernelScope, backend: object, kind: string, filter: Info, make: () => Info): Info {
  const storage = backend as Partial<StorageBackend>;
  if (typeof storage.dataIdMap?.has !== 'function' || typeof storage.disposeData !== 'function') return make();
  const alive = (id: tf.DataId): boolean => (storage as StorageBackend).dataIdMap.has(id);
  let kinds = derivedFilters.get(backend);
  if (kinds === undefined) derivedFilters.set(backend, (kinds = new Map<string, Map<tf.DataId, Info>>()));
  let cache = kinds.get(kind);
  if (cache === undefined) kinds.set(kind, (cache = new Map<tf.DataId, Info>()));
  for (const [source, derived] of cache) {
    if (alive(source) && alive(derived.dataId)) continue;
    if (alive(derived.dataId)) storage.disposeData(derived.dataId);
    cache.delete(source);
  }
  const hit = cache.get(filter.dataId);
  if (hit !== undefined) return hit;
  const derived = s.keep(make());
  cache.set(filter.dataId, derived);
  if (cache.size > CACHE_LIMIT) {
    const [oldest, info] = cache.entries().next().value as [tf.DataId, Info];
    storage.disposeData(info.dataId);
    cache.delete(oldest);
  }
  return derived;
}
