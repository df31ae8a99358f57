import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { custom, parseOptions, type OptionField } from '../core/options.js';
import { rangeError, typeError, named } from '../core/errors.js';
import { asVariable, type Student, type StudentOutputs } from '../core/student.js';

/** Options of {@link studentFromLayers}. */
export interface StudentFromLayersOptions {
  /** The name of the layer whose output is the penultimate representation (`features`). */
  readonly featuresLayer?: string;
  /** The name of the layer whose output is DARHT's feature map (`featureMap`), e.g. the head's `featureMapLayer`. */
  readonly featureMapLayer?: string;
}

/**
 * A layer name of {@link StudentFromLayersOptions}, resolved to the output of the layer of `model` it names (it stays
 * undefined when left out). The rule depends on the model, so the fields are made per call.
 */
function layerOutputOf(model: tfl.LayersModel): OptionField<tfl.SymbolicTensor | undefined> {
  return custom((arg, name) => {
    let layer: tfl.layers.Layer;
    try {
      layer = model.getLayer(name as string);
    } catch {
      return rangeError(arg, `name a layer of the model (${model.layers.map((l) => l.name).join(', ')})`, name);
    }
    return layer.output as tfl.SymbolicTensor;
  });
}

/**
 * Wraps a tfjs-layers model as a `Student` for `fit`, exposing named internal layers as `features` and `featureMap`.
 * The wrapper shares the model's weights (it is a functional view over the same layers).
 *
 * @param model - a tfjs-layers `LayersModel` whose (first) output is the logits.
 * @param options - see {@link StudentFromLayersOptions}.
 * @returns the student.
 * @throws RangeError when a named layer does not exist; TypeError when `model` is not a tfjs-layers model.
 * @example
 * const student = studentFromLayers(net, { featuresLayer: 'penultimate' });
 * await fit(student, { x, y }, arrest({ standardFeatures, eps: 0.3 }));
 */
export function studentFromLayers(model: tfl.LayersModel, options: Readonly<StudentFromLayersOptions> = {}): Student {
  return named('studentFromLayers', () => {
    if (!(model instanceof tfl.LayersModel)) typeError('model', 'be a tfjs-layers LayersModel', model);
    const fields: { readonly [K in keyof StudentFromLayersOptions]-?: OptionField<tfl.SymbolicTensor | undefined> } = {
      featuresLayer: layerOutputOf(model),
      featureMapLayer: layerOutputOf(model)
    };
    const { featuresLayer: features, featureMapLayer: featureMap } = parseOptions(options, fields);
    const logits = model.outputs[0];
    if (logits === undefined) rangeError('model', 'have an output', 'none');
    const outputs = [logits, ...(features === undefined ? [] : [features]), ...(featureMap === undefined ? [] : [featureMap])];
    const view = outputs.length === 1 ? model : tfl.model({ inputs: model.inputs, outputs });
    return {
      forward: (x: tf.Tensor, training: boolean): StudentOutputs => {
        const out = view.apply(x, { training });
        const list = Array.isArray(out) ? (out as tf.Tensor[]) : [out as tf.Tensor];
        let i = 1;
        const result: { logits: tf.Tensor2D; features?: tf.Tensor2D; featureMap?: tf.Tensor2D } = { logits: list[0] as tf.Tensor2D };
        if (features !== undefined) result.features = list[i++] as tf.Tensor2D;
        if (featureMap !== undefined) result.featureMap = list[i] as tf.Tensor2D;
        return result;
      },
      trainableVariables: model.trainableWeights.map((w) => asVariable(w.read())),
      variables: model.weights.map((w) => asVariable(w.read()))
    };
  });
}
