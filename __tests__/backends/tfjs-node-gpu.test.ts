/**
 * useBestBackend's `tensorflow` candidate tries @tensorflow/tfjs-node-gpu before @tensorflow/tfjs-node (both register
 * the `tensorflow` backend). Neither is installed here: each test mocks them (virtual modules) in a fresh module
 * registry, with a stand-in `tensorflow` backend (tfjs' cpu backend under that name) where a package "loads".
 */
type Tf = typeof import('@tensorflow/tfjs-core');
type Backends = typeof import('../../src/backends/index.js');

const mockLoads: string[] = [];

/** How a mocked package behaves when imported. */
type Behaviour = 'absent' | 'fails' | 'registers';

function mockPackage(name: string, behaviour: Behaviour): void {
  jest.doMock(
    name,
    () => {
      mockLoads.push(name);
      if (behaviour === 'absent') throw Object.assign(new Error(`Cannot find module '${name}' from 'src/backends/use-best-backend.ts'`), { code: 'MODULE_NOT_FOUND' });
      if (behaviour === 'fails') throw new Error('libcudart.so.11.0: cannot open shared object file: No such file or directory');
      const tf = jest.requireActual<Tf>('@tensorflow/tfjs-core');
      const { MathBackendCPU } = jest.requireActual<{ MathBackendCPU: new () => InstanceType<typeof import('@tensorflow/tfjs-backend-cpu').MathBackendCPU> }>('@tensorflow/tfjs-backend-cpu');
      tf.registerBackend('tensorflow', () => new MathBackendCPU(), 3);
      return {};
    },
    { virtual: true }
  );
}

/**
 * A fresh ardkit with the two packages mocked. tfjs-core keeps its engine on globalThis, so a fresh copy still has the
 * backends registered before: the stand-in `tensorflow` is removed.
 */
async function fresh(gpu: Behaviour, node: Behaviour): Promise<{ tf: Tf; backends: Backends }> {
  jest.resetModules();
  mockLoads.length = 0;
  const previous = await import('@tensorflow/tfjs-core');
  if (previous.findBackendFactory('tensorflow') !== null) previous.removeBackend('tensorflow');
  mockPackage('@tensorflow/tfjs-node-gpu', gpu);
  mockPackage('@tensorflow/tfjs-node', node);
  const tf = await import('@tensorflow/tfjs-core');
  tf.env().set('PROD', true);
  return { tf, backends: await import('../../src/backends/index.js') };
}

describe('useBestBackend and @tensorflow/tfjs-node-gpu', () => {
  it('uses tfjs-node-gpu when it loads, and never imports tfjs-node then', async () => {
    const { tf, backends } = await fresh('registers', 'registers');
    expect(await backends.useBestBackend()).toBe('tensorflow');
    expect(tf.getBackend()).toBe('tensorflow');
    expect(mockLoads).toEqual(['@tensorflow/tfjs-node-gpu']);
  });

  it('falls through to tfjs-node when tfjs-node-gpu is not installed', async () => {
    const { tf, backends } = await fresh('absent', 'registers');
    expect(await backends.useBestBackend()).toBe('tensorflow');
    expect(tf.getBackend()).toBe('tensorflow');
    expect(mockLoads).toEqual(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']);
  });

  it('falls through to tfjs-node when tfjs-node-gpu is installed but fails to load (no CUDA)', async () => {
    const { backends } = await fresh('fails', 'registers');
    expect(await backends.useBestBackend({ candidates: ['tensorflow'] })).toBe('tensorflow');
    expect(mockLoads).toEqual(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']);
  });

  it('falls through to the next candidate when neither loads, and says why an installed one failed', async () => {
    const { tf, backends } = await fresh('fails', 'absent');
    await expect(backends.useBestBackend({ candidates: ['tensorflow'] })).rejects.toThrow(
      'useBestBackend: none of the backends tensorflow could be loaded; install one of @tensorflow/tfjs-node-gpu, @tensorflow/tfjs-node ' +
        '(with the same version as @tensorflow/tfjs-core). @tensorflow/tfjs-node-gpu failed to load (libcudart.so.11.0: cannot open shared object file: No such file or directory)'
    );
    expect(await backends.useBestBackend({ candidates: ['tensorflow', 'cpu'] })).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
  });
});
