import * as tfl from '@tensorflow/tfjs-layers';
import { checkPositive } from '../core/validate.js';
import { rangeError, typeError, named } from '../core/errors.js';

/**
 * A tfjs-layers model whose output is the network's logits divided by a temperature, `z/τ`: the student as LTD (Chen
 * & Lee, arXiv 2111.02331) deploys it, `x ↦ S(x)/τ_S`, in a form that saves and loads. `withTemperature` (ardkit/core)
 * and the `ltd` objective's `deploy` divide in a JavaScript wrapper, which `model.save` cannot record; this model holds
 * the division as a layer of its own, tfjs-layers' `Rescaling` with `scale = 1/τ`, so `tf.loadLayersModel` loads the
 * saved file in any program, with or without ardkit, and returns the deployed logits. Rounding aside (`z·(1/τ)` against
 * `z/τ`, at most about one float32 ulp apart; exact when τ is a power of two), its output is `net(x)/τ`.
 *
 * The model reuses `net`'s layers, called anew on a fresh input (as a Keras functional model reuses layers): it shares
 * their weights, so training `net` changes it too, and saves flat, `net`'s layers then the division. Disposing one of
 * the two models leaves the other working; tfjs releases the weights with the last of them.
 *
 * @param net - the trained network, a tfjs-layers `LayersModel` with one output, the logits `[B, C]`.
 * @param temperature - `τ > 0`, e.g. `ltd(...).studentTemperature`.
 * @returns a new `tfl.LayersModel`: an input of `net`'s shape, the output `net(x)/τ`.
 * @throws TypeError when `net` is not a tfjs-layers `LayersModel`; RangeError when `temperature` is not a finite
 * number above 0, or when `net` does not have exactly one input and one output of rank 2.
 * @example
 * const objective = ltd({ teacher, eps: 0.1 });
 * await fit(net, { x, y }, objective);
 * const deployed = withTemperatureLayer(net, objective.studentTemperature);
 * await deployed.save(fileSystem('models/ltd-student')); // loads with tf.loadLayersModel: logits / τ_S
 */
export function withTemperatureLayer(net: tfl.LayersModel, temperature: number): tfl.LayersModel {
  return named('withTemperatureLayer', () => {
    if (!(net instanceof tfl.LayersModel)) typeError('net', 'be a tfjs-layers LayersModel', net);
    const tau = checkPositive('temperature', temperature);
    const inputs = net.inputs as tfl.SymbolicTensor[] | undefined;
    const outputs = net.outputs as tfl.SymbolicTensor[] | undefined;
    const [input, ...otherInputs] = inputs ?? [];
    const [logits, ...otherOutputs] = outputs ?? [];
    if (input === undefined || otherInputs.length > 0) rangeError('net', 'have exactly one input, of known shape (build it first)', `${String(inputs?.length ?? 0)} inputs`);
    if (logits === undefined || otherOutputs.length > 0) rangeError('net', 'have exactly one output, the logits', `${String(outputs?.length ?? 0)} outputs`);
    if (logits.shape.length !== 2) rangeError('net', 'output logits of rank 2 ([B, C])', logits.shape);
    const { fresh, output } = callAgain(net, input, logits);
    const scaled = tfl.layers.rescaling({ scale: 1 / tau, name: `${net.name}_temperature` }).apply(output) as tfl.SymbolicTensor;
    return tfl.model({ inputs: fresh, outputs: scaled, name: `${net.name}_deployed` });
  });
}

/**
 * `net`'s graph called again on a fresh input: every layer applied once more, in the order of `net`'s nodes. Each call
 * counts as a use of the layer, so that tfjs keeps its weights until every model built on it is disposed (a model
 * built on `net`'s own symbolic tensors would not count, and disposing it would dispose `net`'s weights).
 */
function callAgain(net: tfl.LayersModel, input: tfl.SymbolicTensor, logits: tfl.SymbolicTensor): { fresh: tfl.SymbolicTensor; output: tfl.SymbolicTensor } {
  const fresh = tfl.input({ shape: input.shape.slice(1), dtype: input.dtype, name: `${net.name}_input` });
  const again = new Map<number, tfl.SymbolicTensor>([[input.id, fresh]]);
  const visit = (t: tfl.SymbolicTensor): tfl.SymbolicTensor => {
    const known = again.get(t.id);
    if (known !== undefined) return known;
    const node = t.sourceLayer.inboundNodes[t.nodeIndex];
    if (node === undefined) return rangeError('net', 'be a graph that reaches its output from its input', t.name);
    const args = node.inputTensors.map(visit);
    const out = t.sourceLayer.apply(args.length === 1 ? (args[0] as tfl.SymbolicTensor) : args, node.callArgs) as tfl.SymbolicTensor | tfl.SymbolicTensor[];
    const outs = Array.isArray(out) ? out : [out];
    node.outputTensors.forEach((o, i) => {
      const o2 = outs[i];
      if (o2 !== undefined) again.set(o.id, o2);
    });
    return again.get(t.id) ?? rangeError('net', 'be a graph whose layers give back their outputs', t.name);
  };
  return { fresh, output: visit(logits) };
}
