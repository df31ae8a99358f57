import * as tf from '@tensorflow/tfjs-core';

/** The part of a tfjs backend a composite kernel needs: releasing the intermediates it made. */
interface DisposingBackend {
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

/** A reference-counted tensor handle as tfjs kernels see it. */
export type Info = tf.TensorInfo;

/**
 * Runs other kernels of one backend from inside a kernel, on `TensorInfo`s, and frees the
 * intermediates when done. Kernels call kernels directly (as tfjs' own backends do) rather than
 * through ops, so nothing is recorded on a gradient tape or counted as a user tensor.
 */
export class KernelScope {
  private readonly temps: Info[] = [];

  constructor(
    private readonly backend: object,
    private readonly backendName: string
  ) {}

  /** Runs `kernelName` of this backend; its output is freed by {@link dispose} unless {@link keep} is called. */
  run(kernelName: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): Info {
    const config = tf.getKernel(kernelName, this.backendName);
    if (config === undefined) {
      throw new Error(`ardkit: the ${this.backendName} backend has no '${kernelName}' kernel, which ardkit's training kernels need`);
    }
    const out = config.kernelFunc({ inputs, backend: this.backend, attrs });
    const info = Array.isArray(out) ? out[0] : out;
    if (info === undefined) throw new Error(`ardkit: kernel '${kernelName}' returned no output`);
    this.temps.push(info);
    return info;
  }

  /** Marks `info` as the result: it survives {@link dispose}. */
  keep(info: Info): Info {
    const i = this.temps.indexOf(info);
    if (i >= 0) this.temps.splice(i, 1);
    return info;
  }

  /** Frees every intermediate not kept. */
  dispose(): void {
    const backend = this.backend as DisposingBackend;
    for (const info of this.temps) backend.disposeData(info.dataId);
    this.temps.length = 0;
  }

  /** `x` with a new shape (no copy). */
  reshape(x: Info, shape: number[]): Info {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: Info, perm: number[]): Info {
    return this.run('Transpose', { x }, { perm });
  }

  /** Pads with zeros; `paddings` is `[before, after]` per axis. */
  pad(x: Info, paddings: Array<[number, number]>): Info {
    return this.run('PadV2', { x }, { paddings, constantValue: 0 });
  }

  slice(x: Info, begin: number[], size: number[]): Info {
    return this.run('Slice', { x }, { begin, size });
  }
}

/**
 * Runs `body` with a fresh {@link KernelScope}; returns what it kept and frees the rest, also when
 * `body` throws.
 */
export function withScope(backend: object, backendName: string, body: (s: KernelScope) => Info): Info {
  const scope = new KernelScope(backend, backendName);
  try {
    return scope.keep(body(scope));
  } finally {
    scope.dispose();
  }
}
